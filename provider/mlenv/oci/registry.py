"""OCI distribution client: the push path (HEAD, cross-repo mount, monolithic or chunked upload,
manifest by digest then tag) and the reads the pipeline needs. Safe to share between threads (the
publisher pushes several blobs at once): httpx.Client is, and the store's own counters are locked.

Hand-written on httpx because no maintained Python library does mount + chunked upload with
bearer auth. One retry layer: each public operation is retried whole (ATTEMPTS tries, exponential
backoff, or the server's Retry-After up to MAX_RETRY_AFTER seconds) on 5xx, 429, refused or reset
connections and lost responses; nothing inside an operation retries again. Blobs are streamed from
their file in PIECE-sized reads, never held whole; blobs larger than MLENV_CHUNK_SIZE go in PATCH
chunks of that size. A chunked upload whose connection broke continues from the offset the
registry reports for its session (GET on the upload URL → Range); any other failed upload starts a
fresh session, after a HEAD (a final PUT whose answer was lost already stored the blob). When the
retries are exhausted the last failure becomes a RegistryError naming the host and what it answered.
"""

from __future__ import annotations

import email.utils
import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn
from urllib.parse import urljoin

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from mlenv.cache import atomic_write
from mlenv.definition.reference import api_host, is_loopback
from mlenv.diagnostics.errors import RegistryError
from mlenv.digests import digest_of
from mlenv.diagnostics.redact import redact
from mlenv.oci.auth import Credentials, RegistryAuth, TokenServiceError, docker_config_credentials
from mlenv.oci.mediatypes import MANIFEST_ACCEPT
from mlenv.oci.transport import PerSchemeTransport
from mlenv.oci.upload_body import FileRange, UploadSession, confirmed_offset

ATTEMPTS = 4
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is cut to this
DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024
_backoff = wait_exponential(multiplier=0.2, max=3)


class _Transient(Exception):
    """A response worth retrying (5xx, 429, or a consumed upload session)."""

    def __init__(self, request: str, status: int, retry_after: float | None = None):
        super().__init__(f"{request}: HTTP {status}")
        self.request, self.status, self.retry_after = request, status, retry_after


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TokenServiceError):
        return error.status >= 500 or error.status == 429
    return isinstance(error, (_Transient, httpx.TransportError))


def _wait(state) -> float:
    """The server's Retry-After when it gave one (bounded), else exponential backoff."""
    error = state.outcome.exception()
    after = getattr(error, "retry_after", None)
    if isinstance(after, str):
        after = retry_after_seconds(after)
    return min(after, MAX_RETRY_AFTER) if after is not None else _backoff(state)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _gave_up(state) -> NoReturn:
    """At the retry boundary: the last transient failure, explained (the store is the method's self)."""
    raise unavailable(state.args[0].host, state.outcome.exception(), state.attempt_number) from None


_retrying = retry(retry=retry_if_exception(_is_transient), stop=stop_after_attempt(ATTEMPTS), wait=_wait, retry_error_callback=_gave_up)


def unavailable(host: str, error: Exception, attempts: int) -> RegistryError:
    """A registry (or its token service) that kept failing: what it answered, or how the connection failed."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    later = "retry later; if it persists, check the registry's health and logs (and any proxy in between)"
    failed = _failed_url(error)
    if isinstance(error, TokenServiceError):
        return RegistryError("registry", f"the token service {error.realm} of the registry {host} answered HTTP {error.status} ({tries})",
                             later.replace("registry's", "token service's"), rule="registry.token-service")
    if isinstance(error, _Transient):
        quota = error.status == 429
        return RegistryError("registry", f"the registry {host} answered HTTP {error.status} to {error.request} ({tries})",
                             "wait for the rate limit to reset, or authenticate for a higher one" if quota else later,
                             rule="registry.quota" if quota else "registry.unavailable")
    how = f"{type(error).__name__}: {redact(str(error))}"
    if failed is not None and failed.netloc.decode() not in (host, api_host(host)):  # not the registry: its token service
        realm = f"{failed.scheme}://{failed.netloc.decode()}{failed.path}"
        return RegistryError("registry", f"the token service {realm} of the registry {host} did not answer: {how} ({tries})",
                             later.replace("registry's", "token service's"), rule="registry.token-service")
    if isinstance(error, httpx.ConnectError):
        return RegistryError("registry", f"cannot connect to the registry {host} ({tries}): {how}",
                             "check the repository host and port, and that the registry is running and reachable", rule="registry.unreachable")
    return RegistryError("registry", f"the registry {host} did not answer: {how} ({tries})", later, rule="registry.unavailable")


def _failed_url(error: Exception) -> httpx.URL | None:
    try:
        return error.request.url if isinstance(error, httpx.TransportError) else None
    except RuntimeError:  # an error raised without its request
        return None


def upload_chunk_size() -> int:
    """$MLENV_CHUNK_SIZE (bytes, or a size like 8M or 512K; default 32M): a blob larger than this is
    pushed in chunks of this size, for front ends that cap request bodies (nginx's client_max_body_size)."""
    raw = os.environ.get("MLENV_CHUNK_SIZE", "").strip()
    if not raw:
        return DEFAULT_CHUNK_SIZE
    found = re.fullmatch(r"(\d{1,15})\s*([kmg]?)(?:i?b)?", raw, re.IGNORECASE)
    if not found or int(found[1]) == 0:
        raise RegistryError("MLENV_CHUNK_SIZE", "is not a size", "give a number of bytes, or a size such as 8M or 512K", value=raw[:40])
    return int(found[1]) * 1024 ** " kmg".index(found[2].lower() or " ")


def is_insecure_host(host: str) -> bool:
    """Like Docker: loopback registries speak plain HTTP, everything else HTTPS."""
    return is_loopback(host)


class RegistryStore:
    """One repository in a remote registry."""

    def __init__(self, host: str, repository: str, credentials: Credentials | None = None, timeout: float = 60, *, scheme: str | None = None):
        self.host, self.repository = host, repository
        scheme = scheme or ("http" if is_insecure_host(host) else "https")
        self.base = f"{scheme}://{api_host(host)}/v2/{repository}"  # Docker Hub (docker.io) answers on registry-1.docker.io
        self.bytes_pushed = 0
        self.chunk_size = upload_chunk_size()
        self._started: set[str] = set()  # digests whose upload began: a retry asks first whether it landed
        self._lock = threading.Lock()
        self._auth = RegistryAuth(credentials, lookup=lambda: docker_config_credentials(host))
        self._client = httpx.Client(auth=self._auth, timeout=httpx.Timeout(timeout, connect=10), follow_redirects=True, transport=PerSchemeTransport())

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def close(self) -> None:
        self._client.close()

    # -- reads (each one operation, retried whole) -------------------------------------------
    @_retrying
    def has_blob(self, digest: str) -> bool:
        return self._blob_exists(digest)

    @_retrying
    def get_blob(self, digest: str) -> bytes:
        data = self._send("GET", f"{self.base}/blobs/{digest}").content
        if digest_of(data) != digest:
            raise _digest_mismatch(digest)
        return data

    @_retrying
    def save_blob(self, digest: str, target: Path) -> Path:
        """Download a blob to target, streamed and verified; a reset mid-body downloads it again."""
        with self._explained(), self._client.stream("GET", f"{self.base}/blobs/{digest}") as response:
            self._raise_for(response, "GET", ok=(200,))
            try:
                return atomic_write(target, response.iter_bytes(1024 * 1024), expected_sha256=digest.split(":")[1])
            except ValueError:
                raise _digest_mismatch(digest) from None

    @_retrying
    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        """The manifest bytes and media type, or None when the tag or digest does not exist."""
        response = self._send("GET", f"{self.base}/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        return response.content, response.headers.get("content-type", "").split(";")[0]

    @_retrying
    def has_manifest(self, reference: str) -> bool:
        response = self._send("HEAD", f"{self.base}/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_ACCEPT})
        return response.status_code == 200

    @_retrying
    def list_tags(self) -> list[str]:
        """Every tag of the repository (none when it does not exist yet), following `Link` pages."""
        tags, url = [], f"{self.base}/tags/list"
        while url:
            response = self._send("GET", url, ok=(200, 404))
            if response.status_code == 404:
                return []
            tags += response.json().get("tags") or []
            following = response.links.get("next", {}).get("url")
            url = urljoin(url, following) if following else None
        return tags

    @_retrying
    def get_referrers(self, digest: str) -> list[dict] | None:
        """The referrers API's descriptors for `digest`, or None when the registry has no such API
        (Distribution 2.8 answers 404): the caller then reads the tag-schema fallback."""
        response = self._send("GET", f"{self.base}/referrers/{digest}", ok=(200, 404, 405))
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return None
        return response.json().get("manifests") or []

    # -- writes ---------------------------------------------------------------------------------
    @_retrying
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Cross-repo mount; False when the registry declines (202) or refuses (404, 405): upload instead."""
        url = f"{self.base}/blobs/uploads/"
        response = self._send("POST", url, ok=(201, 202, 404, 405), params={"mount": digest, "from": from_repository})
        if response.status_code == 201:
            return True
        if response.status_code == 202 and "location" in response.headers:
            self._cancel(urljoin(url, response.headers["location"]))
        return False

    def put_blob_file(self, digest: str, path: Path) -> None:
        """Upload a local blob, streamed from disk: one PUT when it fits a chunk, PATCH chunks otherwise."""
        self._put_file(digest, path, UploadSession())

    @_retrying
    def _put_file(self, digest: str, path: Path, session: UploadSession) -> None:
        self._upload(digest, path.stat().st_size, lambda offset, length: FileRange(path, offset, length), session)

    @_retrying
    def put_blob_bytes(self, digest: str, data: bytes) -> None:
        self._upload(digest, len(data), lambda offset, length: data[offset:offset + length], UploadSession())

    @_retrying
    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        self._send("PUT", f"{self.base}/manifests/{reference}", ok=(201,), content=data, headers={"Content-Type": media_type})
        self._count(len(data))

    def _count(self, pushed: int) -> None:
        with self._lock:  # several threads push through one store
            self.bytes_pushed += pushed

    # -- one attempt of an operation: never retried here ----------------------------------------
    def _blob_exists(self, digest: str) -> bool:
        return self._send("HEAD", f"{self.base}/blobs/{digest}", ok=(200, 404)).status_code == 200

    def _upload(self, digest: str, size: int, body, session: UploadSession) -> None:
        """One attempt: a chunked upload whose connection broke continues its session where the
        registry says it stands; otherwise a fresh session from byte 0. On a retry, a HEAD first:
        the last attempt may have landed. `body(offset, length)` gives that part of the blob."""
        if digest in self._started and self._blob_exists(digest):
            self._count(size)
            return
        self._started.add(digest)
        chunked = size > self.chunk_size
        if not (chunked and session.interrupted and self._resumed(session)):
            url = f"{self.base}/blobs/uploads/"
            session.start(urljoin(url, self._send("POST", url, ok=(202,)).headers["location"]))
        try:
            if chunked:
                self._send_chunks(session, size, body)
            last = 0 if chunked else size  # the final PUT carries the whole blob, or nothing after the chunks
            separator = "&" if "?" in session.location else "?"
            self._send("PUT", f"{session.location}{separator}digest={digest}", ok=(201,), stale=(404,), content=body(0, last),
                       headers={"Content-Type": "application/octet-stream", "Content-Length": str(last)})
        except httpx.TransportError:
            session.interrupted = True
            raise
        self._count(size)

    def _send_chunks(self, session: UploadSession, size: int, body) -> None:
        while session.offset < size:
            offset = session.offset
            length = min(self.chunk_size, size - offset)
            headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + length - 1}", "Content-Length": str(length)}
            response = self._send("PATCH", session.location, ok=(202,), stale=(404, 416), content=body(offset, length), headers=headers)
            session.location = urljoin(session.location, response.headers["location"])
            session.offset = offset + length

    def _resumed(self, session: UploadSession) -> bool:
        """Whether the interrupted session goes on: the registry reports (GET → Range) how much it
        holds, and the next chunk starts there. False when it no longer knows the session."""
        response = self._send("GET", session.location, ok=(204, 400, 404, 405))
        offset = confirmed_offset(response.headers.get("range", ""), session.offset) if response.status_code == 204 else None
        if offset is None:
            return False
        session.location = urljoin(session.location, response.headers.get("location", session.location))
        session.offset, session.interrupted = offset, False
        return True

    def _cancel(self, location: str) -> None:
        """Best effort: give back the upload session a declined mount opened."""
        try:
            self._send("DELETE", location, ok=(200, 202, 204, 404, 405))
        except (_Transient, httpx.TransportError, TokenServiceError, RegistryError):
            pass

    # -- transport --------------------------------------------------------------------------------
    def _send(self, method: str, url: str, ok: tuple[int, ...] = (200,), stale: tuple[int, ...] = (), **kwargs) -> httpx.Response:
        """One request; `stale` statuses (an upload session the registry no longer knows) are
        transient: the operation starts again with a fresh session."""
        with self._explained():
            response = self._client.request(method, url, **kwargs)
        if response.status_code in stale:
            raise _Transient(f"{method} {response.url.path}", response.status_code)
        self._raise_for(response, method, ok)
        return response

    @contextmanager
    def _explained(self) -> Iterator[None]:
        """A token service's refusal, explained as that (its failures that may pass are retried)."""
        try:
            yield
        except TokenServiceError as error:
            if _is_transient(error):
                raise
            raise self._token_refused(error) from None

    def _token_refused(self, error: TokenServiceError) -> RegistryError:
        if error.status in (401, 403):
            return RegistryError("registry", f"the token service {error.realm} of {self.name} answered HTTP {error.status}{self._auth.describe()}",
                                 "give registry_username and a secret registry_password, or `docker login` to this host, with push rights on the repository",
                                 rule="registry.unauthorized")
        answer = "an answer without a token" if error.status == 200 else f"HTTP {error.status}"
        return RegistryError("registry", f"the token service {error.realm} of {self.name} gave {answer}",
                             "check the registry's token service (the realm in its WWW-Authenticate challenge) and any proxy in between",
                             rule="registry.token-service")

    def _raise_for(self, response: httpx.Response, method: str, ok: tuple[int, ...]) -> None:
        status = response.status_code
        if status in ok:
            return
        if status >= 500 or status == 429:
            raise _Transient(f"{method} {response.url.path}", status, retry_after_seconds(response.headers.get("retry-after")))
        if status in (401, 403):
            raise RegistryError(
                "registry",
                f"{self.name}: {'unauthorized' if status == 401 else 'access denied'} for {method} (HTTP {status}){self._auth.describe()}",
                "give registry_username and a secret registry_password, or `docker login` to this host, with push rights on the repository",
                rule="registry.unauthorized",
            )
        if status == 413:
            raise self._too_large(response, method)
        response.read()
        raise RegistryError("registry", f"{self.name}: {method} {response.url.path} answered HTTP {status}: {response.text[:300]}", "check the repository name and the registry's logs")

    def _too_large(self, response: httpx.Response, method: str) -> RegistryError:
        sent = response.request.headers.get("content-length", "?")
        problem = f"{self.name}: {method} of a {sent}-byte body was refused as too large (HTTP 413) by the registry or a proxy in front of it"
        if "/blobs/uploads/" in response.url.path:
            fix = (f"set MLENV_CHUNK_SIZE below that front end's body limit (now {self.chunk_size} bytes; e.g. MLENV_CHUNK_SIZE=4M), "
                   "or raise the limit (nginx: client_max_body_size)")
        else:
            fix = "raise the front end's body limit (nginx: client_max_body_size); a manifest cannot be sent in chunks"
        return RegistryError("registry", problem, fix, rule="registry.body-too-large")


def _digest_mismatch(digest: str) -> RegistryError:
    return RegistryError("registry", f"blob {digest} arrived with another digest", "retry; if it persists the registry's storage (or a proxy in between) alters it")
