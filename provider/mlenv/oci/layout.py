"""The embedded default store: an OCI image layout directory (`oci:PATH`), no server needed.

Blobs are written to a temporary name and renamed into place, and index.json is replaced
atomically, so an interrupted build never leaves a tag pointing at a partial image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mlenv.cache import sha256_file
from mlenv.diagnostics.errors import CacheError, StoreError
from mlenv.oci.mediatypes import OCI_INDEX

REF_NAME = "org.opencontainers.image.ref.name"


class LayoutStore:
    def __init__(self, path: str | Path):
        self.root = Path(path).expanduser()
        self.bytes_pushed = 0

    @property
    def name(self) -> str:
        return f"oci:{self.root}"

    def close(self) -> None:
        pass

    def _blob_path(self, digest: str) -> Path:
        algorithm, _, hex_digest = digest.partition(":")
        return self.root / "blobs" / algorithm / hex_digest

    # -- reads ------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def get_blob(self, digest: str) -> bytes:
        try:
            return self._blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise StoreError("image", f"blob {digest} is missing from {self.name}", "rebuild the image or restore the layout directory") from None

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        with self._blob_path(digest).open("rb") as handle:
            yield iter(lambda: handle.read(1024 * 1024), b"")

    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        entry = self._find(reference)
        if entry is None or not self.has_blob(entry["digest"]):
            return None
        return self.get_blob(entry["digest"]), entry["mediaType"]

    def has_manifest(self, reference: str) -> bool:
        return self.get_manifest(reference) is not None

    def _find(self, reference: str) -> dict | None:
        for entry in self._index()["manifests"]:
            if entry["digest"] == reference or entry.get("annotations", {}).get(REF_NAME) == reference:
                return entry
        return None

    def _index(self) -> dict:
        try:
            return json.loads((self.root / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    # -- writes -----------------------------------------------------------------------------
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        return False

    def put_blob_file(self, digest: str, path: Path) -> None:
        self._ensure_layout()
        temporary = self._temporary()
        shutil.copyfile(path, temporary)
        self._commit_blob(digest, temporary)
        self.bytes_pushed += path.stat().st_size

    def put_blob_bytes(self, digest: str, data: bytes) -> None:
        self._ensure_layout()
        temporary = self._temporary()
        temporary.write_bytes(data)
        self._commit_blob(digest, temporary)
        self.bytes_pushed += len(data)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            self.put_blob_bytes(digest, data)
        if reference.startswith("sha256:"):
            return
        index = self._index()
        kept = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != reference]
        kept.append({"mediaType": media_type, "digest": digest, "size": len(data), "annotations": {REF_NAME: reference}})
        index["manifests"] = kept
        self._write_atomically(self.root / "index.json", json.dumps(index, indent=2).encode())

    def _ensure_layout(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        marker = self.root / "oci-layout"
        if not marker.exists():
            self._write_atomically(marker, b'{"imageLayoutVersion": "1.0.0"}')

    def _temporary(self) -> Path:
        handle, name = tempfile.mkstemp(dir=self.root / "blobs", prefix=".upload-")
        os.close(handle)
        return Path(name)

    def _commit_blob(self, digest: str, temporary: Path) -> None:
        actual = "sha256:" + sha256_file(temporary)
        if actual != digest:
            temporary.unlink()
            raise CacheError("image", f"blob content does not match its digest {digest} (got {actual})", "rebuild; the build cache may be corrupt")
        os.replace(temporary, self._blob_path(digest))

    def _write_atomically(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)

