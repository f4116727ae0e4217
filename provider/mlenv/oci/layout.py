"""The embedded default store: an OCI image layout directory (`oci:PATH`), no server needed.

Blobs are written under a unique temporary name and renamed into place, and index.json is replaced
atomically under an flock on `index.json.lock`, so parallel builds into one layout (Pulumi runs
resources in parallel) keep every tag, and an interrupted build never leaves a tag pointing at a
partial image. Files honour the umask, so other users' tools (skopeo, umoci) can read the layout.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mlenv.cache import atomic_write, partial_file, sweep_orphans
from mlenv.diagnostics.errors import CacheError, StoreError
from mlenv.digests import digest_of
from mlenv.oci.mediatypes import OCI_INDEX, OCI_MANIFEST

REF_NAME = "org.opencontainers.image.ref.name"
LOCK_NAME = "index.json.lock"
_LEGACY_PARTIALS = (".part-", ".upload-")  # .upload-*: what earlier versions left after a kill


class LayoutStore:
    def __init__(self, path: str | Path):
        self.root = Path(path).expanduser()
        self.bytes_pushed = 0
        self._ready = False
        self._lock = threading.Lock()  # the publisher writes blobs from several threads

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

    def save_blob(self, digest: str, target: Path) -> Path:
        """Copy a blob to target (verified by its digest)."""
        try:
            with self._blob_path(digest).open("rb") as handle:
                return atomic_write(target, iter(lambda: handle.read(1024 * 1024), b""), expected_sha256=digest.split(":")[1])
        except FileNotFoundError:
            raise StoreError("image", f"blob {digest} is missing from {self.name}", "rebuild the image or restore the layout directory") from None
        except ValueError:
            raise StoreError("image", f"blob {digest} in {self.name} does not match its digest", "rebuild that image into the layout, or restore the layout directory") from None

    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        entry = self._find(reference)
        if entry is None and reference.startswith("sha256:"):
            return self._untagged_manifest(reference)
        if entry is None or not self.has_blob(entry["digest"]):
            return None
        return self.get_blob(entry["digest"]), entry["mediaType"]

    def _untagged_manifest(self, digest: str) -> tuple[bytes, str] | None:
        """A manifest put by digest alone (an artifact whose subject is an image) is a blob only."""
        if not self.has_blob(digest) or self._blob_path(digest).stat().st_size > 4 * 1024 * 1024:
            return None
        data = self.get_blob(digest)
        try:
            media_type = json.loads(data).get("mediaType")
        except (ValueError, AttributeError):
            return None
        return (data, media_type) if media_type in (OCI_INDEX, OCI_MANIFEST) else None

    def has_manifest(self, reference: str) -> bool:
        return self.get_manifest(reference) is not None

    def list_tags(self) -> list[str]:
        return [m["annotations"][REF_NAME] for m in self._index()["manifests"] if REF_NAME in m.get("annotations", {})]

    def get_referrers(self, digest: str) -> list[dict] | None:
        """A layout has no referrers API: None sends the caller to the tag-schema fallback."""
        return None

    def _find(self, reference: str) -> dict | None:
        for entry in self._index()["manifests"]:
            if entry["digest"] == reference or entry.get("annotations", {}).get(REF_NAME) == reference:
                return entry
        return None

    def _index(self) -> dict:
        path = self.root / "index.json"
        try:
            index = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        except ValueError:
            index = None
        if not (isinstance(index, dict) and isinstance(index.get("manifests"), list)
                and all(isinstance(m, dict) and "digest" in m for m in index["manifests"])):
            raise StoreError("image", f"{path} is not a valid OCI index (damaged outside mlenv, or by an older version writing in parallel)",
                             f"restore {path} from a backup, or move it away: the blobs stay, the tags in it are lost and the next builds write them again")
        return index

    # -- writes -----------------------------------------------------------------------------
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        return False

    def put_blob_file(self, digest: str, path: Path) -> None:
        with path.open("rb") as source:
            self._write_blob(digest, iter(lambda: source.read(1024 * 1024), b""))
        self._count(path.stat().st_size)

    def put_blob_bytes(self, digest: str, data: bytes) -> None:
        self._write_blob(digest, [data])
        self._count(len(data))

    def _count(self, pushed: int) -> None:
        with self._lock:
            self.bytes_pushed += pushed

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        digest = digest_of(data)
        if not self.has_blob(digest):
            self.put_blob_bytes(digest, data)
        if reference.startswith("sha256:"):
            return
        with self._index_locked():  # read-modify-write: parallel writers must not lose each other's tags
            index = self._index()
            kept = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != reference]
            kept.append({"mediaType": media_type, "digest": digest, "size": len(data), "annotations": {REF_NAME: reference}})
            index["manifests"] = kept
            self._replace(self.root / "index.json", json.dumps(index, indent=2).encode())

    def _ensure_layout(self) -> None:
        if self._ready:
            return
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        sweep_orphans(self.root / "blobs", _LEGACY_PARTIALS)
        marker = self.root / "oci-layout"
        if not marker.exists():
            self._replace(marker, b'{"imageLayoutVersion": "1.0.0"}')
        self._ready = True

    @contextmanager
    def _index_locked(self) -> Iterator[None]:
        self._ensure_layout()
        with (self.root / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write_blob(self, digest: str, chunks) -> None:
        """Stream into a temporary in blobs/, check the digest, rename into place."""
        self._ensure_layout()
        actual = hashlib.sha256()
        with partial_file(self.root / "blobs") as (temporary, out):
            for chunk in chunks:
                actual.update(chunk)
                out.write(chunk)
            out.flush()
            if "sha256:" + actual.hexdigest() != digest:
                raise CacheError("image", f"blob content does not match its digest {digest} (got sha256:{actual.hexdigest()})",
                                 "run the build again: the damaged cache entry it came from is checked and rebuilt")
            os.replace(temporary, self._blob_path(digest))

    def _replace(self, target: Path, data: bytes) -> None:
        with partial_file(self.root / "blobs") as (temporary, out):
            out.write(data)
            out.flush()
            os.replace(temporary, target)
