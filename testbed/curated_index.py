"""What the curated environments (provider/mlenv/definition/curated_envs/) need from a local index
and a local conda-forge, so they build here as on a site without the internet:

- the wheels: every `name==version --hash=sha256:…` of every version file, downloaded from PyPI once
  into CACHE/curated-wheels and checked against the pinned sha256. A file the ML benchmark already holds
  (CACHE/bench-ml-wheels: torch and its CUDA wheels, 2.9 GB) is linked from there instead. The folder
  holds only what the curated files name: a wheel no file pins any more is removed.
- conda-forge's part: the test channel (testbed/conda_channel.py: python 3.11.2, pip 24.2) plus
  stand-ins, named and versioned as the curated files pin them, for the conda-forge packages they add:
  `ca-certificates` (the Debian base's CA bundle in ssl/cacert.pem, where conda-forge keeps it) and
  `libgomp` (the OpenMP runtime in lib/, the host's copy of Debian's libgomp1, which gcc brings).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlenv.digests import sha256_file
from testbed import services

PYPI = "https://pypi.org/simple"
TARGET = services.CACHE / "curated-wheels"
REUSED = services.CACHE / "bench-ml-wheels"
MARKER = ".complete"  # one "sha256 filename" line per wheel, written when the folder is whole
CA_CERTIFICATES, LIBGOMP = "2024.8.30", "14.2.0"  # the versions the curated files pin (conda-forge releases)
HOST_LIBGOMP = Path("/usr/lib/x86_64-linux-gnu/libgomp.so.1")


@dataclass(frozen=True, order=True)
class Pin:
    name: str
    version: str
    sha256: str


def curated_folder() -> Path:
    import mlenv.definition

    return Path(mlenv.definition.__file__).parent / "curated_envs"


def version_files() -> list[Path]:
    return sorted(curated_folder().glob("*/*.yml"))


def pins_of(path: Path) -> list[Pin]:
    """The locked wheels of one curated file, read by mlenv's own loader."""
    from mlenv.definition.load import load_file

    from packaging.utils import canonicalize_name

    pip = load_file(path).pip
    hashes = dict(pip.hashes)
    found = []
    for requirement in pip.requirements:
        name, pinned = canonicalize_name(requirement.name), [s.version for s in requirement.specifier if s.operator == "=="]
        if len(pinned) != 1 or len(hashes.get(name, ())) != 1:
            raise ValueError(f"{path}: {requirement} must be pinned with == and one --hash=sha256: (scripts/curated_lock.py writes it so)")
        found.append(Pin(name, pinned[0], hashes[name][0].removeprefix("sha256:")))
    return found


def ensure_curated_wheels() -> Path:
    """The folder of every curated file's wheels, whole and verified; downloads only what is missing."""
    wanted = sorted({pin for path in version_files() for pin in pins_of(path)})
    with services._locked("curated-wheels"):
        TARGET.mkdir(parents=True, exist_ok=True)
        if _complete(wanted):
            return TARGET
        (TARGET / MARKER).unlink(missing_ok=True)
        with httpx.Client(timeout=httpx.Timeout(60, connect=20), follow_redirects=True) as client:
            names = {pin.sha256: _fetch(client, pin) for pin in wanted}
        for leftover in TARGET.iterdir():
            if leftover.name not in names.values():
                leftover.unlink()
        (TARGET / MARKER).write_text("".join(f"{sha256} {name}\n" for sha256, name in sorted(names.items())))
    return TARGET


def _complete(wanted: list[Pin]) -> bool:
    marker = TARGET / MARKER
    if not marker.exists():
        return False
    recorded = dict(line.split(" ", 1) for line in marker.read_text().splitlines())
    return set(recorded) == {pin.sha256 for pin in wanted} and all((TARGET / name).exists() for name in recorded.values())


def _fetch(client: httpx.Client, pin: Pin) -> str:
    """The file name of `pin`'s wheel in TARGET: kept, linked from the benchmark's folder, or downloaded."""
    listing = client.get(f"{PYPI}/{pin.name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    listing.raise_for_status()
    match = [f for f in listing.json()["files"] if f.get("hashes", {}).get("sha256") == pin.sha256]
    if not match:
        raise RuntimeError(f"no file of {pin.name}=={pin.version} on {PYPI} has the pinned sha256 {pin.sha256}")
    name, target = match[0]["filename"], TARGET / match[0]["filename"]
    if target.exists() and sha256_file(target) == pin.sha256:
        return name
    reused = REUSED / name
    if reused.exists() and sha256_file(reused) == pin.sha256:
        _link_or_copy(reused, target)
        return name
    _download(client, match[0]["url"], target, pin.sha256)
    return name


def _download(client: httpx.Client, url: str, target: Path, sha256: str) -> None:
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with client.stream("GET", url) as response, partial.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise RuntimeError(f"{url} has sha256 {digest.hexdigest()}, not the pinned {sha256}")
    os.replace(partial, target)


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


def ensure_curated_channel() -> Path:
    """The test channel's packages (linked) and ca-certificates, indexed; rebuilt with the test channel."""
    from testbed.conda_channel import SUBDIRS, _assemble, _index, ensure_conda_channel, run_coroutine
    from testbed.conda_python import _newest_glibc

    source = ensure_conda_channel()
    target = services.CACHE / f"curated-{source.name}"
    with services._locked("curated-channel"):
        if (target / "noarch" / "repodata.json").exists():
            return target
        with tempfile.TemporaryDirectory(dir=services.CACHE, prefix=".curated-channel-") as work:
            channel = Path(work) / "channel"
            for subdir in SUBDIRS:
                (channel / subdir).mkdir(parents=True)
                for package in (source / subdir).glob("*.conda"):
                    _link_or_copy(package, channel / subdir / package.name)
            _assemble(channel, "ca-certificates", CA_CERTIFICATES, {"ssl/cacert.pem": _debian_ca_bundle()}, license="MPL-2.0")
            _assemble(channel, "libgomp", LIBGOMP, {"lib/libgomp.so.1": HOST_LIBGOMP.read_bytes()}, subdir="linux-64",
                      depends=[f"__glibc >={_newest_glibc([HOST_LIBGOMP])}"], license="GPL-3.0-only WITH GCC-exception-3.1")
            run_coroutine(_index(channel))
            shutil.rmtree(target, ignore_errors=True)
            os.replace(channel, target)
        for old in services.CACHE.glob("curated-conda-channel-v*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    return target


def _debian_ca_bundle() -> str:
    with tarfile.open(services.ensure_base_rootfs()) as rootfs:
        return rootfs.extractfile("./etc/ssl/certs/ca-certificates.crt").read().decode()
