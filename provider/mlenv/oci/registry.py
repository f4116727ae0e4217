"""OCI distribution client: the push path (HEAD, cross-repo mount, monolithic or chunked upload,
manifest by digest then tag) and the reads the pipeline needs.

Hand-written on httpx because no maintained Python library does mount + chunked upload with
bearer auth. Transient failures (connection errors, 5xx, 429) are retried with backoff; when the
retries are exhausted the last failure becomes a RegistryError naming the host and what it answered.
"""

from __future__ import annotations

import hashlib
import ipaddress
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn
from urllib.parse import urljoin

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from mlenv.definition.reference import api_host
from mlenv.oci.auth import Credentials, RegistryAuth, docker_config_credentials
from mlenv.diagnostics.errors import RegistryError
from mlenv.diagnostics.redact import redact
from mlenv.oci.mediatypes import MANIFEST_ACCEPT

CHUNK_SIZE = 32 * 1024 * 1024
MONOLITHIC_LIMIT = 64 * 1024 * 1024
GAVE_UP = ("registry.unavailable", "registry.quota")  # the rules of an exhausted retry


class _Transient(Exception):
    """A response worth retrying (5xx, 429)."""

    def __init__(self, request: str, status: int):
        super().__init__(f"{request}: HTTP {status}")
        self.request, self.status = request, status


def _is_transient(error: BaseException) -> bool:
    """Worth another try; an exhausted inner retry (one request) counts, so an outer one (a whole
    blob upload) still starts over, as before."""
    return isinstance(error, (_Transient, httpx.TransportError)) or (isinstance(error, RegistryError) and error.rule in GAVE_UP)


def _gave_up(state) -> NoReturn:
    """At the retry boundary: the last transient failure, explained (the store is the method's self)."""
    error, host = state.outcome.exception(), state.args[0].host
    if isinstance(error, RegistryError):
        raise error
    raise unavailable(host, error, state.attempt_number) from None


def unavailable(host: str, error: Exception, attempts: int) -> RegistryError:
    """A registry that kept failing: what it answered (status) or how the connection failed."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(error, _Transient):
        problem = f"the registry {host} answered HTTP {error.status} to {error.request} ({tries})"
    else:
        problem = f"the registry {host} did not answer: {type(error).__name__}: {redact(str(error))} ({tries})"
    quota = getattr(error, "status", None) == 429
    fix = "wait for the rate limit to reset, or authenticate for a higher one" if quota else "retry later; if it persists, check the registry's health and logs (and any proxy in between)"
    return RegistryError("registry", problem, fix, rule="registry.quota" if quota else "registry.unavailable")


_retrying = retry(
    retry=retry_if_exception(_is_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.2, max=3),
    retry_error_callback=_gave_up,
)


def is_insecure_host(host: str) -> bool:
    """Like Docker: loopback registries speak plain HTTP, everything else HTTPS."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryStore:
    """One repository in a remote registry."""

    def __init__(self, host: str, repository: str, credentials: Credentials | None = None, timeout: float = 60, *, scheme: str | None = None):
        self.host, self.repository = host, repository
        scheme = scheme or ("http" if is_insecure_host(host) else "https")
        self.base = f"{scheme}://{api_host(host)}/v2/{repository}"  # Docker Hub (docker.io) answers on registry-1.docker.io
        self.bytes_pushed = 0
        self._auth = RegistryAuth(credentials, lookup=lambda: docker_config_credentials(host))
        self._client = httpx.Client(
            auth=self._auth,
            timeout=httpx.Timeout(timeout, connect=10),
            follow_redirects=True,
        )

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def close(self) -> None:
        self._client.close()

    # -- reads ------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self._send("HEAD", f"{self.base}/blobs/{digest}", ok=(200, 404)).status_code == 200

    def get_blob(self, digest: str) -> bytes:
        data = self._send("GET", f"{self.base}/blobs/{digest}").content
        _verify(digest, data)
        return data

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        with self._client.stream("GET", f"{self.base}/blobs/{digest}") as response:
            try:
                self._raise_for(response, "GET", ok=(200,))
            except _Transient as error:
                raise unavailable(self.host, error, 1) from None
            yield response.iter_bytes(1024 * 1024)

    def get_manifest(self, reference: str) -> tuple[bytes, str] | None:
        """The manifest bytes and media type, or None when the tag or digest does not exist."""
        response = self._send("GET", f"{self.base}/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        return response.content, response.headers.get("content-type", "").split(";")[0]

    def has_manifest(self, reference: str) -> bool:
        response = self._send("HEAD", f"{self.base}/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_ACCEPT})
        return response.status_code == 200

    # -- writes -----------------------------------------------------------------------------
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Cross-repo mount; False when the registry declines (then upload instead)."""
        url = f"{self.base}/blobs/uploads/"
        response = self._send("POST", url, ok=(201, 202), params={"mount": digest, "from": from_repository})
        if response.status_code == 201:
            return True
        self._send("DELETE", urljoin(url, response.headers["location"]), ok=(200, 202, 204, 404))
        return False

    @_retrying
    def put_blob_file(self, digest: str, path: Path) -> None:
        """Upload a local blob: one PUT when small, PATCH chunks otherwise."""
        size = path.stat().st_size
        location = self._start_upload()
        with path.open("rb") as handle:
            if size <= MONOLITHIC_LIMIT:
                self._finish_upload(location, digest, handle.read())
            else:
                location = self._upload_chunks(location, handle)
                self._finish_upload(location, digest, b"")
        self.bytes_pushed += size

    @_retrying
    def put_blob_bytes(self, digest: str, data: bytes) -> None:
        self._finish_upload(self._start_upload(), digest, data)
        self.bytes_pushed += len(data)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        self._send("PUT", f"{self.base}/manifests/{reference}", ok=(201,), content=data, headers={"Content-Type": media_type})
        self.bytes_pushed += len(data)

    def _start_upload(self) -> str:
        url = f"{self.base}/blobs/uploads/"
        response = self._send("POST", url, ok=(202,))
        return urljoin(url, response.headers["location"])

    def _upload_chunks(self, location: str, handle) -> str:
        offset = 0
        while chunk := handle.read(CHUNK_SIZE):
            headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
            response = self._send("PATCH", location, ok=(202,), content=chunk, headers=headers)
            location = urljoin(location, response.headers["location"])
            offset += len(chunk)
        return location

    def _finish_upload(self, location: str, digest: str, data: bytes) -> None:
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream"}
        self._send("PUT", f"{location}{separator}digest={digest}", ok=(201,), content=data, headers=headers)

    # -- transport --------------------------------------------------------------------------
    @_retrying
    def _send(self, method: str, url: str, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.ConnectError:
            raise RegistryError(
                "registry",
                f"cannot connect to the registry {self.host}",
                "check the repository host and port, and that the registry is running and reachable",
                rule="registry.unreachable",
            ) from None
        self._raise_for(response, method, ok)
        return response

    def _raise_for(self, response: httpx.Response, method: str, ok: tuple[int, ...]) -> None:
        status = response.status_code
        if status in ok:
            return
        if status >= 500 or status == 429:
            raise _Transient(f"{method} {response.url.path}", status)
        if status in (401, 403):
            login = self._auth.describe()
            raise RegistryError(
                "registry",
                f"{self.name}: {'unauthorized' if status == 401 else 'access denied'} for {method} (HTTP {status}){login}",
                "give registry_username and a secret registry_password, or `docker login` to this host, with push rights on the repository",
                rule="registry.unauthorized",
            )
        response.read()
        raise RegistryError("registry", f"{self.name}: {method} {response.url.path} answered HTTP {status}: {response.text[:300]}", "check the repository name and the registry's logs")


def _verify(digest: str, data: bytes) -> None:
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise RegistryError("registry", f"blob {digest} arrived with digest {actual}", "retry; if it persists the registry's storage is corrupt")
