"""Curated references resolve to a shipped version's definition: the mechanism, on a catalogue of the
tests' own (tests/fixtures/curated: `tiny-1.0` with versions 1 and 2, `other` with one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.definition import curated
from mlenv.definition.load import from_mapping
from mlenv.definition.rules import findings
from mlenv.definition.sources import load_source
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.identity.hashing import definition_hash
from tests import paths

CATALOGUE = paths.FIXTURES / "curated"


@pytest.fixture(autouse=True)
def own_catalogue(monkeypatch):
    monkeypatch.setattr(curated, "FOLDER", CATALOGUE)
    monkeypatch.delenv(curated.SITE_ENV, raising=False)


def headline(value) -> str:
    with pytest.raises(SpecError) as caught:
        from_mapping({"curated": value})
    return caught.value.headline


def test_latest_is_the_highest_version_and_hashes_as_that_version():
    latest, two, one = (from_mapping({"curated": ref}) for ref in ("mlenv:tiny-1.0@latest", "mlenv:tiny-1.0:2", "mlenv:tiny-1.0:1"))
    assert (latest.curated, one.curated) == ("mlenv:tiny-1.0:2", "mlenv:tiny-1.0:1")
    assert [str(r) for r in latest.pip.requirements] == ["six==1.17.0"] and [str(r) for r in one.pip.requirements] == ["six==1.16.0"]
    assert definition_hash(latest) == definition_hash(two) != definition_hash(one)
    assert canonical_definition(latest)["curated"] == "mlenv:tiny-1.0:2"


def test_the_reference_is_hashed_beside_the_definition_it_stands_for():
    """A curated version and the same definition written by hand are two environments: the reference
    says which curated version an image is, so it is part of the identity."""
    written = load_source(CATALOGUE / "tiny-1.0" / "2.yml")
    assert definition_hash(from_mapping({"curated": "mlenv:tiny-1.0:2"})) != definition_hash(written)


def test_metadata_beside_the_reference_is_kept_and_does_not_move_the_hash():
    plain = from_mapping({"curated": "mlenv:tiny-1.0@latest"})
    named = from_mapping({"curated": "mlenv:tiny-1.0@latest", "name": "train", "tags": {"team": "ml"}, "description": "ours"})
    assert (named.name, named.tags, named.description) == ("train", {"team": "ml"}, "ours")
    assert plain.description == ""  # the version file's own description stays in the catalogue
    assert definition_hash(plain) == definition_hash(named)


def test_the_input_form_is_the_resolved_reference_and_loads_back_to_the_same_hash():
    spec = from_mapping({"curated": "mlenv:tiny-1.0@latest", "name": "train"})
    mapping = to_mapping(spec)
    assert mapping == {"name": "train", "curated": "mlenv:tiny-1.0:2"}
    assert definition_hash(from_mapping(mapping)) == definition_hash(spec)


def test_a_reference_given_where_a_path_goes_is_the_curated_definition():
    assert load_source(Path("mlenv:other@latest")).curated == "mlenv:other:1"


def test_anything_that_changes_the_image_beside_the_reference_is_refused():
    with pytest.raises(SpecError) as caught:
        from_mapping({"curated": "mlenv:tiny-1.0@latest", "pip": ["numpy"], "variables": {"A": "1"}})
    assert caught.value.headline.startswith("curated: a curated environment cannot be combined with pip, variables (got 'mlenv:tiny-1.0@latest'). "
                                            "Fix: use the curated reference alone")


@pytest.mark.parametrize("value, expected", [
    ("mlenv:tiny-10@latest", "curated: no curated environment named 'tiny-10' (got 'mlenv:tiny-10@latest'). Fix: did you mean mlenv:tiny-1.0@latest?"),
    ("mlenv:nothing-like@latest", "curated: no curated environment named 'nothing-like' (got 'mlenv:nothing-like@latest'). "
                                  "Fix: use one of other, tiny-1.0 (mlenv curated list)"),
    ("mlenv:tiny-1.0:3", "curated: mlenv:tiny-1.0 has no version 3 (got 'mlenv:tiny-1.0:3'). Fix: use one of 1, 2 or @latest"),
    ("mlenv:tiny-1.0@prod", "curated: unknown label '@prod' (got 'mlenv:tiny-1.0@prod'). Fix: use @latest, or pin a version with mlenv:tiny-1.0:<version>"),
    ("mlenv:Tiny@latest", "curated: malformed curated environment reference (got 'mlenv:Tiny@latest'). "
                          "Fix: write mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest (lowercase name, whole-number version)"),
    ("sklearn", "curated: not a curated environment reference (got 'sklearn'). Fix: write mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest"),
])
def test_each_bad_reference_is_one_error_naming_the_fix(value, expected):
    assert headline(value) == expected


@pytest.mark.parametrize("value, counterpart", [
    ("azureml:AzureML-tiny-1.0-ubuntu20.04-py38-cpu@latest", "tiny-1.0"),      # listed
    ("azureml://registries/azureml/environments/tiny-1.0/labels/latest", "tiny-1.0"),
    ("azureml:AzureML-widgets-0.24-ubuntu18.04-py37-cpu:5", "other"),           # same family as a listed name
])
def test_an_azure_ml_curated_reference_gets_its_counterpart(value, counterpart):
    assert headline(value) == (f"curated: an Azure ML environment reference: it names an asset in an Azure ML workspace or registry, which is not read "
                               f"here (got '{value}'). Fix: its counterpart here is mlenv:{counterpart}@latest; or define the environment yourself")


def test_an_azure_ml_reference_with_no_counterpart_points_at_the_list():
    assert headline("azureml:AzureML-responsibleai-0.20-ubuntu20.04-py38-cpu@latest").endswith(
        "Fix: mlenv curated list shows the curated environments here; or define the environment yourself")


def test_curated_names_are_reserved_for_user_environments():
    errors = findings(from_mapping({"name": "Tiny-1.0", "image": "registry.example/base:1", "pip": ["six==1.16.0"]})).errors
    assert [e.headline for e in errors] == ["name: is the name of a curated environment (got 'Tiny-1.0'). Fix: build it as mlenv:tiny-1.0@latest, or choose another name"]


def test_an_azure_ml_prefixed_name_is_told_its_counterpart():
    errors = findings(from_mapping({"name": "AzureML-tiny-1.0-ubuntu20.04-py38-cpu", "image": "registry.example/base:1"})).errors
    assert [e.headline for e in errors] == [
        "name: the prefix 'AzureML' is reserved (curated environments) (got 'AzureML-tiny-1.0-ubuntu20.04-py38-cpu'). "
        "Fix: choose a name that does not start with AzureML, Microsoft or mlenv:; its counterpart here is mlenv:tiny-1.0@latest"]


def test_the_catalogue_reads_names_versions_and_what_each_is():
    entries = curated.catalogue()
    assert list(entries) == ["other", "tiny-1.0"]
    tiny = entries["tiny-1.0"]
    assert (tiny.versions, tiny.latest, tiny.imports, tiny.summary) == (("1", "2"), "2", ("six",), "six on the test base, two versions")


def test_a_site_catalogue_joins_the_shipped_one_and_may_not_redefine_a_name(monkeypatch, tmp_path):
    site = tmp_path / "site"
    (site / "team-base").mkdir(parents=True)
    (site / "team-base" / "1.yml").write_text("image: registry.example/base:1\npip: [six==1.16.0]\n")
    monkeypatch.setenv(curated.SITE_ENV, str(site))
    assert list(curated.catalogue()) == ["other", "team-base", "tiny-1.0"]
    assert from_mapping({"curated": "mlenv:team-base@latest"}).curated == "mlenv:team-base:1"
    (site / "other").mkdir()
    (site / "other" / "1.yml").write_text("image: registry.example/base:1\n")  # seen without a restart
    assert headline("mlenv:team-base@latest") == (
        f"MLENV_CURATED_DIR: {site} defines mlenv:other, which {CATALOGUE} already has (got '{site}'). "
        "Fix: rename it in your own catalogue: a curated name means one thing")
