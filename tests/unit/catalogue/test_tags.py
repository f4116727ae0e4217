"""The catalogue's tag scheme (docs/VERSIONS.md, "The tags"): valid OCI tags, parsed back to what
they are, never colliding with the hash tags or the referrers fallback tags."""

from __future__ import annotations

import re

import pytest

from mlenv.catalogue import tags as scheme
from mlenv.catalogue.versions import DEFAULT_SETTLE, settle_seconds
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.hashing import tag_for

OCI_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
HASH = "ab" * 32


def test_every_kind_of_tag_is_a_valid_oci_tag_and_parses_back():
    name = "n" * 64
    made = {
        scheme.version_tag(name, "12"): ("version", "12", ""),
        scheme.version_tag(name, "2024.1"): ("version", "2024.1", ""),
        scheme.claim_tag(name, "3", HASH): ("claim", "3", ""),
        scheme.state_tag(name, "3"): ("state", "3", ""),
        scheme.label_tag(name, "prod-eu_2"): ("label", "", "prod-eu_2"),
    }
    for tag, (kind, version, label) in made.items():
        assert OCI_TAG.fullmatch(tag), tag
        parsed = scheme.parse(tag)
        assert (parsed.name, parsed.kind, parsed.version, parsed.label) == (name, kind, version, label)
    assert scheme.parse(scheme.claim_tag("train", "3", HASH)).hash16 == HASH[:16]


def test_hash_tags_and_fallback_tags_are_never_catalogue_tags():
    assert scheme.parse(tag_for(HASH)) is None
    assert scheme.parse(scheme.fallback_tag("sha256:" + HASH)) is None and OCI_TAG.fullmatch(scheme.fallback_tag("sha256:" + HASH))
    assert scheme.parse("latest") is None and scheme.parse("3.11-bookworm") is None


@pytest.mark.parametrize("label", ["v1", "v2.0", "Prod", "-x", "", "a.b", "x" * 33])
def test_labels_that_could_be_read_as_something_else_are_refused(label):
    with pytest.raises(SpecError, match="is not a label"):
        scheme.check_label(label)


@pytest.mark.parametrize("name", ["my.env", "", "-x", "x" * 65, "a/b"])
def test_names_the_catalogue_cannot_hold_are_refused_with_the_fix(name):
    with pytest.raises(SpecError, match="cannot be a catalogue name") as refused:
        scheme.check_name(name)
    assert "give it no name" in str(refused.value)


def test_the_settle_time_defaults_to_2_seconds_and_a_bad_one_is_one_error(monkeypatch):
    monkeypatch.delenv("MLENV_CATALOGUE_SETTLE", raising=False)
    assert settle_seconds() == DEFAULT_SETTLE == 2.0
    monkeypatch.setenv("MLENV_CATALOGUE_SETTLE", "soon")
    with pytest.raises(SpecError, match="MLENV_CATALOGUE_SETTLE: is not a number of seconds"):
        settle_seconds()


def test_a_nameless_definition_gets_a_reserved_name_from_its_hash():
    name = scheme.anonymous_name("0123456789abcdef" * 4)
    assert name == "anon-0123456789ab" and scheme.is_anonymous(name) and scheme.check_name(name) == name  # readable by that name
    assert scheme.parse(scheme.version_tag(name, "1")) == scheme.CatalogueTag(name, "version", version="1")
    with pytest.raises(SpecError, match="is reserved: anon-<12 hex digits>"):
        scheme.check_given_name(name)  # but no definition may give it
    assert scheme.check_given_name("anon-train") == "anon-train" and not scheme.is_anonymous("anon-0123456789AB")
