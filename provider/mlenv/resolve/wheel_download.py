"""Download locked wheels into the content-addressed cache (verified by sha256), in parallel.

A rebuild of the same lock downloads nothing: the cache key is the wheel's sha256.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from mlenv.cache import atomic_write, cache_root
from mlenv.diagnostics.errors import ResolveError
from mlenv.resolve.index import IndexSettings
from mlenv.diagnostics.redact import redact
from mlenv.resolve.pip_lock import LockedWheel


def wheel_path(wheel: LockedWheel) -> Path:
    return cache_root() / "wheels" / wheel.sha256[:2] / wheel.sha256 / wheel.filename


def fetch_wheels(wheels: list[LockedWheel], index: IndexSettings) -> dict[str, Path]:
    """Every wheel on local disk, keyed by package name."""
    missing = [w for w in wheels if not wheel_path(w).exists()]
    if missing:
        with httpx.Client(verify=index.ssl_context(), timeout=httpx.Timeout(120, connect=15), follow_redirects=True) as client:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda w: _download(client, w, index), missing))
    return {w.name: wheel_path(w) for w in wheels}


@retry(retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_attempt(4), wait=wait_exponential(0.2, max=3), reraise=True)
def _download_once(client: httpx.Client, wheel: LockedWheel, url: str) -> None:
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            rule = "resolution.index-unauthorized" if response.status_code in (401, 403) else "resolution.index-unreachable"
            raise ResolveError("pip", f"downloading {wheel.filename} answered HTTP {response.status_code}", "check the index URL and its credentials", rule=rule)
        atomic_write(wheel_path(wheel), response.iter_bytes(1024 * 1024), expected_sha256=wheel.sha256)


def _download(client: httpx.Client, wheel: LockedWheel, index: IndexSettings) -> None:
    if wheel.url.startswith("file://"):  # a private wheel or a local find-links folder
        return _copy_local(wheel)
    url = urljoin(index.index_url.rstrip("/") + "/", wheel.url) if index.index_url else wheel.url
    try:
        _download_once(client, wheel, index.with_credentials(url))
    except ValueError as err:
        raise ResolveError("pip", f"{wheel.filename} does not match the index's sha256 ({err})", "the index served different bytes than it advertised: check the index or mirror", rule="resolution.hash-mismatch") from None
    except httpx.TransportError as err:
        raise ResolveError("pip", f"cannot download {wheel.filename} from {redact(url, index.secrets())}: {err}", "check the network and the index URL", rule="resolution.timeout") from None


def _copy_local(wheel: LockedWheel) -> None:
    source = Path(unquote(urlsplit(wheel.url).path))
    try:
        with source.open("rb") as handle:
            atomic_write(wheel_path(wheel), iter(lambda: handle.read(1024 * 1024), b""), expected_sha256=wheel.sha256)
    except OSError as err:
        raise ResolveError("pip", f"cannot read the local wheel {source}: {err.strerror}", "keep the wheel file where the definition points") from None
    except ValueError:
        raise ResolveError("pip", f"{source} changed since the definition was read (sha256 differs)", "run again so the new content is hashed", rule="resolution.hash-mismatch") from None
