"""A loopback registry's manifests and tag list, read with GETs over one plain socket: the reads of
the no-op replay (replay.py). Importing httpx costs about 40 ms and http.client about 15 ms, more
than the rest of a replay together.

Only the simplest answers are read here: plain HTTP (only a loopback registry speaks it,
registry.is_insecure_host), a status of 200 or 404, a body of a stated Content-Length. Anything
else (TLS, a login asked for, a redirect, a chunked or paged answer, a dropped connection) is
`Unanswered`, and the replay asks RegistryStore instead, which handles all of those.
"""

from __future__ import annotations

import json
import socket

from mlenv.oci.mediatypes import MANIFEST_ACCEPT

TIMEOUT = 5.0  # seconds: a registry slower than this is left to RegistryStore
MAX_HEAD = 64 * 1024  # bytes of status line and headers
MAX_BODY = 4 * 1024 * 1024  # bytes of a manifest or a tag list


class Unanswered(Exception):
    """No simple answer: RegistryStore must ask."""


class TagReader:
    """`get_manifest` and `list_tags` of the repository at `base` (RegistryStore.base:
    http://host:port/v2/REPOSITORY), on one kept-alive connection."""

    def __init__(self, base: str):
        scheme, _, rest = base.partition("://")
        host, _, path = rest.partition("/")
        name, _, port = host.rpartition(":")
        if scheme != "http" or not port.isdigit():
            raise Unanswered(f"not a plain-HTTP registry with a port: {base}")
        try:
            self._socket = socket.create_connection((name.strip("[]").encode(), int(port)), timeout=TIMEOUT)  # bytes: no IDNA codec to import
        except OSError as error:
            raise Unanswered(f"{type(error).__name__}: {error}") from None
        self._host, self._path, self._unread = host, f"/{path}", b""

    def close(self) -> None:
        self._socket.close()

    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        status, headers, body = self._get(f"{self._path}/manifests/{reference}", f"Accept: {MANIFEST_ACCEPT}\r\n")
        return None if status == 404 else (body, headers.get("content-type", "").split(";")[0])

    def list_tags(self) -> list[str]:
        status, headers, body = self._get(f"{self._path}/tags/list", "")
        if status == 404:
            return []
        if "link" in headers:
            raise Unanswered("the tag list comes in pages")
        return json.loads(body).get("tags") or []

    def _get(self, path: str, extra_headers: str) -> tuple[int, dict[str, str], bytes]:
        try:
            self._socket.sendall(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n{extra_headers}\r\n".encode())
            status, headers = self._head()
            length = headers.get("content-length", "")
            if status not in (200, 404) or not length.isdigit() or int(length) > MAX_BODY or "transfer-encoding" in headers:
                raise Unanswered(f"HTTP {status}, Content-Length {length or 'none'}")
            return status, headers, self._take(int(headers["content-length"]))
        except (OSError, ValueError, IndexError) as error:
            raise Unanswered(f"{type(error).__name__}: {error}") from None

    def _head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._unread:
            self._receive(MAX_HEAD)
        head, self._unread = self._unread.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {key.strip().lower(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
        return int(status_line.split(" ", 2)[1]), headers

    def _take(self, length: int) -> bytes:
        while len(self._unread) < length:
            self._receive(MAX_HEAD + length)
        body, self._unread = self._unread[:length], self._unread[length:]
        return body

    def _receive(self, limit: int) -> None:
        chunk = self._socket.recv(65536)
        if not chunk or len(self._unread) + len(chunk) > limit:
            raise Unanswered("the connection closed, or the answer is too long")
        self._unread += chunk
