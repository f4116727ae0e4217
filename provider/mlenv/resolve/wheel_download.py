"""Download locked wheels (and the sdists built into wheels) into the content-addressed cache,
verified by sha256, in parallel.

A rebuild of the same lock downloads nothing: the cache key is the file's sha256, checked again on
every reuse (a damaged or swapped file is downloaded again, with a warning; an unchanged file is
trusted by its stamp, cache.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from mlenv.cache import atomic_write, cache_root, verified_file
from mlenv.diagnostics import progress
from mlenv.diagnostics.errors import ResolveError
from mlenv.resolve.index import IndexSettings
from mlenv.diagnostics.redact import redact
from mlenv.resolve.locked_wheel import LockedWheel


def wheel_path(wheel: LockedWheel) -> Path:
    return cache_root() / "wheels" / wheel.sha256[:2] / wheel.sha256 / wheel.filename


def fetch_wheels(wheels: list[LockedWheel], index: IndexSettings) -> dict[str, Path]:
    """Every wheel on local disk, keyed by package name."""
    missing = [w for w in wheels if not verified_file(wheel_path(w), w.sha256, "wheel")]
    if missing:
        with _client(index) as client, ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda w: _fetch(client, w.url, filename=w.filename, sha256=w.sha256, target=wheel_path(w), index=index), missing))
    return {w.name: wheel_path(w) for w in wheels}


def fetch_file(url: str, filename: str, sha256: str, index: IndexSettings) -> Path:
    """One file the lock names by URL and sha256 (an sdist to build), in the cache."""
    target = cache_root() / "sdists" / sha256[:2] / sha256 / filename
    if not verified_file(target, sha256, "sdist"):
        with _client(index) as client:
            _fetch(client, url, filename=filename, sha256=sha256, target=target, index=index)
    return target


def _client(index: IndexSettings) -> httpx.Client:
    return httpx.Client(verify=index.ssl_context(), timeout=httpx.Timeout(120, connect=15), follow_redirects=True)


@retry(retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_attempt(4), wait=wait_exponential(0.2, max=3), reraise=True)
def _download_once(client: httpx.Client, url: str, filename: str, sha256: str, target: Path) -> None:
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            rule = "resolution.index-unauthorized" if response.status_code in (401, 403) else "resolution.index-unreachable"
            raise ResolveError("pip", f"downloading {filename} answered HTTP {response.status_code}", "check the index URL and its credentials", rule=rule)
        atomic_write(target, response.iter_bytes(1024 * 1024), expected_sha256=sha256)
    progress.add(progress.DOWNLOADED, target.stat().st_size)


def _fetch(client: httpx.Client, url: str, *, filename: str, sha256: str, target: Path, index: IndexSettings) -> None:
    if url.startswith("file://"):  # a private wheel, a local find-links folder, a wheel built here
        return _copy_local(url, sha256, target)
    url = urljoin(index.index_url.rstrip("/") + "/", url) if index.index_url else url
    try:
        _download_once(client, index.with_credentials(url), filename, sha256, target)
    except ValueError as err:
        raise ResolveError("pip", f"{filename} does not match the index's sha256 ({err})", "the index served different bytes than it advertised: check the index or mirror", rule="resolution.hash-mismatch") from None
    except httpx.TransportError as err:
        raise ResolveError("pip", f"cannot download {filename} from {redact(url, index.secrets())}: {err}", "check the network and the index URL", rule="resolution.timeout") from None


def _copy_local(url: str, sha256: str, target: Path) -> None:
    source = Path(unquote(urlsplit(url).path))
    try:
        with source.open("rb") as handle:
            atomic_write(target, iter(lambda: handle.read(1024 * 1024), b""), expected_sha256=sha256)
    except OSError as err:
        raise ResolveError("pip", f"cannot read the local wheel {source}: {err.strerror}", "keep the wheel file where the definition points") from None
    except ValueError:
        raise ResolveError("pip", f"{source} changed since the definition was read (sha256 differs)", "run again so the new content is hashed", rule="resolution.hash-mismatch") from None
