"""The OCI layout store's own edges: a damaged index.json is one clear error, never a traceback and
never overwritten; what earlier versions left after a kill is swept at the next write."""

from __future__ import annotations

import hashlib
import os

import pytest

from mlenv.diagnostics.errors import CacheError, StoreError
from mlenv.oci.layout import LayoutStore
from mlenv.oci.mediatypes import OCI_MANIFEST

MANIFEST = b'{"schemaVersion": 2}'


@pytest.mark.parametrize("text", ['{"manifests": [', "[]", '{"manifests": [1]}', '{"manifests": {}}', "\udcff"])
def test_a_damaged_index_is_one_clear_error_and_is_left_alone(tmp_path, text):
    (tmp_path / "index.json").write_text(text, errors="surrogateescape")
    store = LayoutStore(tmp_path)
    for attempt in (lambda: store.get_manifest("latest"), lambda: store.put_manifest("latest", MANIFEST, OCI_MANIFEST)):
        with pytest.raises(StoreError) as caught:
            attempt()
        assert caught.value.problem.startswith(f"{tmp_path / 'index.json'} is not a valid OCI index")
        assert "move it away" in caught.value.fix and text not in str(caught.value)
    assert (tmp_path / "index.json").read_text(errors="surrogateescape") == text


def test_a_blob_that_is_not_its_digest_is_refused_and_leaves_nothing(tmp_path):
    store = LayoutStore(tmp_path)
    with pytest.raises(CacheError):
        store.put_blob_bytes("sha256:" + "0" * 64, b"other bytes")
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["sha256"] and not list((tmp_path / "blobs" / "sha256").iterdir())


def test_an_earlier_versions_leftovers_are_swept_at_the_next_write(tmp_path):
    (tmp_path / "blobs").mkdir()
    for name in (".upload-abc123", ".part-42-cafe"):
        (tmp_path / "blobs" / name).write_bytes(b"half a layer")
    LayoutStore(tmp_path).put_manifest("v1", MANIFEST, OCI_MANIFEST)
    assert sorted(os.listdir(tmp_path / "blobs")) == ["sha256"]
    digest = hashlib.sha256(MANIFEST).hexdigest()
    assert os.listdir(tmp_path / "blobs" / "sha256") == [digest]
    assert LayoutStore(tmp_path).get_manifest("v1") == (MANIFEST, OCI_MANIFEST)
