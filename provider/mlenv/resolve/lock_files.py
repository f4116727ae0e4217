"""A resolved environment written in lock formats other tools install from (`mlenv lock`):

- `explicit`: conda's `@EXPLICIT` list (`conda create --file`, mamba, micromamba, pixi import), one
  `URL#md5` line per package in install order; the pip wheels follow as comments, since the format
  has no place for them;
- `requirements`: the wheels as `name==version --hash=sha256:…` (`pip install --require-hashes`);
- `pixi`: rattler's lock file (pixi.lock), conda records and pip wheels for linux-64 with the
  target's virtual packages.
Every URL is the public one: a channel token never reaches a lock file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlenv.diagnostics.redact import public_url
from mlenv.resolve.lock import Lock


def explicit(lock: Lock, conda_records: list) -> str:
    lines = ["# conda explicit specification, written by mlenv lock", "# platform: linux-64", "@EXPLICIT"]
    by_name = {r.name: r for r in lock.conda.records} if lock.conda else {}
    for record in _install_order(conda_records):
        locked = by_name[record.name.normalized]
        lines.append(f"{locked.url}#{locked.md5}" if locked.md5 else locked.url)
    lines += [f"# pip: {wheel.pin} --hash=sha256:{wheel.sha256}" for wheel in lock.wheels]
    return "\n".join(lines) + "\n"


def requirements(lock: Lock) -> str:
    return "".join(f"{wheel.pin} --hash=sha256:{wheel.sha256}\n" for wheel in lock.wheels)


def pixi(lock: Lock, conda_records: list) -> str:
    """pixi.lock text: one default environment for linux-64."""
    from rattler import LockChannel, LockFile, LockPlatform

    virtual = list(lock.conda.virtual_packages) if lock.conda else []
    platform = LockPlatform("linux-64", virtual_packages=virtual)
    lock_file = LockFile([platform])
    lock_file.set_channels("default", [LockChannel(url) for url in (lock.conda.channels if lock.conda else ())])
    for record in _install_order(conda_records):
        record.url = public_url(str(record.url))
        record.channel = public_url(str(record.channel or "")) or None
        lock_file.add_conda_package("default", platform, record)
    for wheel in lock.wheels:
        lock_file.add_pypi_package("default", platform, wheel.name, wheel.version, public_url(wheel.url))
    with tempfile.TemporaryDirectory(prefix="mlenv-lock-") as folder:
        path = Path(folder) / "pixi.lock"
        lock_file.to_path(path)
        return path.read_text(encoding="utf-8")


def _install_order(conda_records: list) -> list:
    """Dependencies before their dependents, as an explicit list is installed line by line."""
    if not conda_records:
        return []
    from rattler import RepoDataRecord

    by_name = {record.name.normalized: record for record in conda_records}
    return [by_name[record.name.normalized] for record in RepoDataRecord.sort_topologically(conda_records)]
