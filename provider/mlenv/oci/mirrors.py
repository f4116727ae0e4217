"""Docker Hub pulls through registry mirrors ($MLENV_REGISTRY_MIRRORS), as Docker's `registry-mirrors`.

A mirror serves Docker Hub's repositories under the same paths (`library/python` for `python:3.11`).
Each read asks the mirrors in order, then Docker Hub itself: a mirror that does not hold the image or
cannot be reached is passed over, so an air-gapped site needs only a mirror and a connected one
loses nothing. Once a source has answered for the manifest, blobs are asked of it first (they are
verified by digest whichever source serves them). Mirrors get no login of ours: only Docker's config
for the mirror's own host, when the mirror asks for one (Docker Hub credentials stay with Docker Hub).
Only pulls use mirrors; a push to docker.io goes to Docker Hub.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Callable, TypeVar

from mlenv.diagnostics.errors import RegistryError
from mlenv.oci.auth import Credentials
from mlenv.oci.registry import RegistryStore

T = TypeVar("T")


class MirroredStore:
    """One Docker Hub repository, read through its mirrors first."""

    def __init__(self, repository: str, credentials: Credentials | None, mirrors: tuple[tuple[str, str], ...]):
        self.origin = RegistryStore("docker.io", repository, credentials)
        self.mirrors = [RegistryStore(host, repository, None, scheme=scheme or None) for scheme, host in mirrors]
        self.host, self.repository = self.origin.host, repository
        self._preferred: RegistryStore | None = None

    @property
    def name(self) -> str:
        return self.origin.name

    def close(self) -> None:
        for store in (*self.mirrors, self.origin):
            store.close()

    def _sources(self) -> list[RegistryStore]:
        order = [*self.mirrors, self.origin]
        if self._preferred is not None:
            order.remove(self._preferred)
            order.insert(0, self._preferred)
        return order

    # -- reads ------------------------------------------------------------------------------
    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        missed = []  # mirrors that answered "not here"
        for store in self.mirrors:
            try:
                found = store.get_manifest(reference)
            except RegistryError:
                continue
            if found is not None:
                self._preferred = store
                return found
            missed.append(store.host)
        try:
            found = self.origin.get_manifest(reference)
        except RegistryError as error:
            raise self._nowhere(reference, missed, error) from None
        self._preferred = self.origin if found is not None else None
        return found

    def has_manifest(self, reference: str) -> bool:
        return self.get_manifest(reference) is not None

    def has_blob(self, digest: str) -> bool:
        return bool(self._first(lambda store: store.has_blob(digest), accept=bool, default=False))

    def get_blob(self, digest: str) -> bytes:
        return self._first(lambda store: store.get_blob(digest))

    def save_blob(self, digest: str, target: Path) -> Path:
        return self._first(lambda store: store.save_blob(digest, target))

    def _first(self, read: Callable[[RegistryStore], T], accept: Callable[[T], bool] = lambda _: True, default=None) -> T:
        """The first source's answer that is accepted; the last source's error when every one failed."""
        sources = self._sources()
        for store in sources:
            try:
                answer = read(store)
            except RegistryError:
                if store is sources[-1]:
                    raise
                continue
            if accept(answer):
                return answer
        return default

    def _nowhere(self, reference: str, missed: list[str], error: RegistryError) -> RegistryError:
        hosts = ", ".join(store.host for store in self.mirrors)
        image = f"{self.repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        held = "does not hold it" if len(missed) == len(self.mirrors) else "did not answer or does not hold it"
        return RegistryError("image", f"docker.io/{image} is not on the registry mirrors ({hosts}: each {held}), "
                             f"and Docker Hub failed too: {error.problem}",
                             f"push it to a mirror as {image} (MLENV_REGISTRY_MIRRORS), or let this machine reach Docker Hub",
                             rule=error.rule)


def registry_mirrors() -> tuple[tuple[str, str], ...]:
    """$MLENV_REGISTRY_MIRRORS as (scheme, host) pairs, in order: Docker Hub mirrors, as Docker's
    `registry-mirrors` (URLs such as https://mirror.example or http://127.0.0.1:5000, or bare hosts,
    whose scheme is then "" and chosen as for any registry), separated by spaces or commas."""
    import re
    from urllib.parse import urlsplit

    from mlenv.diagnostics.errors import MlenvError

    mirrors = []
    items = [item for item in re.split(r"[\s,]+", os.environ.get("MLENV_REGISTRY_MIRRORS", "")) if item]
    for number, item in enumerate(items, start=1):
        parts = urlsplit(item if "://" in item else f"//{item}")
        if "@" in parts.netloc:  # a login in the URL: not echoed
            raise MlenvError("MLENV_REGISTRY_MIRRORS", f"mirror {number} has a login in its URL",
                             "remove user:password@ from it; a mirror's login comes from Docker's config (docker login HOST)")
        if parts.scheme not in ("", "http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise MlenvError("MLENV_REGISTRY_MIRRORS", f"mirror {number} is not a registry URL", "give each mirror as a URL with no path "
                             "(https://mirror.example, http://127.0.0.1:5000) or a host[:port], separated by spaces or commas", item)
        mirrors.append((parts.scheme, parts.netloc.lower()))
    return tuple(mirrors)
