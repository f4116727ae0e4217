"""A repository's manifests and tag list, read over the standard library's http.client: the reads
of the no-op replay (replay.py), which must not pay for importing httpx (about 40 ms).

Plain answers only. A login asked for, a redirect, a paged listing, any other status or a failed
connection is `Unanswered`, and the caller runs the full path instead (RegistryStore), which
handles all of those. Nothing is retried here: the full path retries.
"""

from __future__ import annotations

import http.client
import json

from mlenv.oci.mediatypes import MANIFEST_ACCEPT

TIMEOUT = 5.0  # seconds: a registry slower than this is left to the full path


class Unanswered(Exception):
    """The registry gave no plain answer: only the full path may decide."""


class TagReader:
    """`get_manifest` and `list_tags` of the repository at `base` (RegistryStore.base:
    scheme://host/v2/REPOSITORY), on one kept-alive connection."""

    def __init__(self, base: str):
        scheme, _, rest = base.partition("://")
        host, _, path = rest.partition("/")
        connection = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}.get(scheme)
        if connection is None or not host:
            raise Unanswered(f"not a registry URL: {base}")
        self._connection, self._path = connection(host, timeout=TIMEOUT), f"/{path}"

    def close(self) -> None:
        self._connection.close()

    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        status, body, headers = self._get(f"{self._path}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT})
        return None if status == 404 else (body, headers.get("content-type", "").split(";")[0])

    def list_tags(self) -> list[str]:
        status, body, headers = self._get(f"{self._path}/tags/list", {})
        if status == 404:
            return []
        if headers.get("link"):
            raise Unanswered("the tag list comes in pages")
        return json.loads(body).get("tags") or []

    def _get(self, path: str, headers: dict[str, str]):
        try:
            self._connection.request("GET", path, headers=headers)
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise Unanswered(f"{type(error).__name__}: {error}") from None
        if response.status not in (200, 404):
            raise Unanswered(f"HTTP {response.status}")
        return response.status, body, response.headers
