"""Download locked conda packages into the content-addressed cache, in parallel, verified by sha256
when written and again each time a cached file is used (a damaged entry is fetched anew; an unchanged
file is trusted by its stamp, cache.py).

The URL used is rattler's (tokens and `${VAR}` credentials expanded); every message shows the public one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from mlenv.cache import atomic_write, cache_root, has_sha256
from mlenv.diagnostics import progress
from mlenv.diagnostics.errors import BuildError
from mlenv.diagnostics.redact import public_url
from mlenv.resolve.conda_channels import expand
from mlenv.resolve.conda_lock import CondaRecord


def package_path(record: CondaRecord) -> Path:
    return cache_root() / "conda" / record.sha256[:2] / record.sha256 / record.file_name


def fetch_packages(records: list[CondaRecord], urls: dict[str, str], log: Callable[[str], None] = lambda line: None) -> dict[str, Path]:
    """Every package archive on local disk, keyed by package name. `urls` maps a package name to the
    URL to download it from (expanded, may hold a token)."""
    missing = [r for r in records if not _verified(r)]
    if missing:
        log(f"downloading {len(missing)} conda packages ({sum(r.size for r in missing)} bytes)")
        with httpx.Client(timeout=httpx.Timeout(120, connect=15), follow_redirects=True) as client:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda r: _download(client, r, expand(urls[r.name]), log), missing))
    return {r.name: package_path(r) for r in records}


def _verified(record: CondaRecord) -> bool:
    """A cached archive counts only if its bytes still have the locked sha256."""
    path = package_path(record)
    if not path.is_file():
        return False
    if has_sha256(path, record.sha256):
        return True
    path.unlink(missing_ok=True)
    return False


@retry(retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_attempt(4), wait=wait_exponential(0.2, max=3), reraise=True)
def _download_once(client: httpx.Client, record: CondaRecord, url: str) -> None:
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise BuildError("conda", f"downloading {record.file_name} from {record.url} answered HTTP {response.status_code}",
                             "check the channel URL and its token or credentials", rule="conda.channel")
        atomic_write(package_path(record), response.iter_bytes(1024 * 1024), expected_sha256=record.sha256)
    progress.add(progress.DOWNLOADED, record.size)


def _download(client: httpx.Client, record: CondaRecord, url: str, log: Callable[[str], None]) -> None:
    if url.startswith("file://"):
        url_path = Path(url.removeprefix("file://"))
        atomic_write(package_path(record), _chunks(url_path), expected_sha256=record.sha256)
        return
    try:
        _download_once(client, record, url)
    except ValueError as err:
        raise BuildError("conda", f"{record.file_name} does not match the channel's sha256 ({err})",
                         "the channel served different bytes than its repodata says: check the channel or mirror", rule="resolution.hash-mismatch") from None
    except httpx.TransportError as err:
        raise BuildError("conda", f"cannot download {record.file_name} from {public_url(url)}: {public_url(str(err))}",
                         "check the network and the channel URL", rule="conda.channel") from None
    log(f"  {record.file_name} ({record.size} bytes)")


def _chunks(path: Path):
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk
