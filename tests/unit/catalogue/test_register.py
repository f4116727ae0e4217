"""Registration's settle time (catalogue/versions.py), on a real OCI layout: a named version waits
it between claiming and reading who won; a nameless one (anon-<hash>) has no rival and waits none."""

from __future__ import annotations

import json

import pytest

from mlenv.catalogue import versions
from mlenv.catalogue.tags import anonymous_name
from mlenv.digests import digest_of
from mlenv.oci.image import DEFINITION_HASH
from mlenv.oci.layout import LayoutStore
from mlenv.oci.mediatypes import OCI_MANIFEST

HASH = "ab" * 32


@pytest.fixture
def store(tmp_path):
    """A layout holding one image of the definition HASH: (store, its digest)."""
    store = LayoutStore(tmp_path / "images")
    image = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": [], "annotations": {DEFINITION_HASH: HASH}}).encode()
    store.put_manifest("mlenv-x", image, OCI_MANIFEST)
    return store, digest_of(image)


def test_a_nameless_registration_waits_no_settle_time_and_a_named_one_does(store, monkeypatch):
    layout, digest = store
    slept = []
    monkeypatch.setattr(versions.time, "sleep", slept.append)
    monkeypatch.setenv(versions.SETTLE_ENV, "3")
    named = versions.register(layout, "train", digest=digest, definition_hash=HASH)
    assert (named.version, slept) == ("1", [3.0])
    slept.clear()
    nameless = versions.register(layout, anonymous_name(HASH), digest=digest, definition_hash=HASH)
    assert nameless.version == "1" and not any(slept)
    again = versions.register(layout, anonymous_name(HASH), digest=digest, definition_hash=HASH)
    assert again == nameless  # the same definition keeps its version
