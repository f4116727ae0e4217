"""Hash rules (docs/HASHING.md): order and spelling never matter, meaning always does."""

import hashlib

from hypothesis import given, strategies as st

from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.definition.load import from_mapping

BASE = "127.0.0.1:5000/base/python:3.11"
PACKAGES = ["numpy==1.26.4", "requests>=2.31", "six", "tqdm[notebook]<5", "urllib3!=2.0.0,>=1.26"]


def spec(**fields):
    return from_mapping({"image": BASE, **fields})


# The documented payload (docs/HASHING.md), written out by hand, and its pinned hash: an accidental
# change to the rules or to BUILDER_VERSION fails here loudly. Change both deliberately, never one.
DOCUMENTED_PAYLOAD = (
    '{"builder":"mlenv-oci/2","definition":{"image":"127.0.0.1:5000/base/python:3.11",'
    '"pip":["numpy==1.26.4","requests"],"platform":"linux/amd64","variables":{"OMP_NUM_THREADS":"1"}}}'
)
PINNED = "d8614e1142a251c4342f0bf313d1828af1b7f9f54f86e21d88b0a8682d4a8da3"


def test_hash_is_sha256_of_the_documented_payload():
    quickstart = spec(pip=["requests", "NumPy==1.26.4"], variables={"OMP_NUM_THREADS": 1}, name="quickstart")
    assert hashlib.sha256(DOCUMENTED_PAYLOAD.encode()).hexdigest() == PINNED
    assert definition_hash(quickstart) == PINNED


def test_spelling_of_names_and_versions_does_not_matter():
    assert definition_hash(spec(pip=["NumPy == 1.26.04", "Tqdm[Notebook] < 5"])) == definition_hash(spec(pip=["numpy==1.26.4", "tqdm[notebook]<5"]))


def test_name_and_description_are_not_hashed():
    assert definition_hash(spec(name="a", description="x")) == definition_hash(spec(name="b", description="y"))


@given(st.permutations(PACKAGES))
def test_package_order_never_changes_the_hash(order):
    assert definition_hash(spec(pip=list(order))) == definition_hash(spec(pip=PACKAGES))


@given(st.sampled_from(range(len(PACKAGES))), st.sampled_from(["==9.9.9", ">=0.1", "<1"]))
def test_changing_any_specifier_changes_the_hash(position, specifier):
    changed = list(PACKAGES)
    changed[position] = changed[position].split("=")[0].split("<")[0].split(">")[0].split("!")[0] + specifier
    if changed[position] != PACKAGES[position]:
        assert definition_hash(spec(pip=changed)) != definition_hash(spec(pip=PACKAGES))


@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True), st.text(max_size=8), max_size=4))
def test_variables_change_the_hash_unless_equal(variables):
    base = definition_hash(spec(variables={"KEEP": "1"}))
    changed = definition_hash(spec(variables={"KEEP": "1", **variables}))
    assert (changed == base) == (variables in ({}, {"KEEP": "1"}))


def test_base_image_changes_the_hash():
    assert definition_hash(spec()) != definition_hash(from_mapping({"image": BASE.replace("3.11", "3.12")}))


def test_tag_is_derived_from_the_hash():
    digest = definition_hash(spec())
    assert tag_for(digest) == "mlenv-" + digest[:32]
