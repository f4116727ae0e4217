"""The machine's limits, measured in the same run as bench/ml.py's builds, and the floor each sets under
a build: how fast this machine can compress, write and upload what a build must.

Compression runs on a sample of the installed tree (the wheels' files, taken from every wheel in
proportion to its size). Single-core figures are per CPU second (so a busy neighbour does not halve
them); multi-thread and I/O figures are per wall second.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import httpx

MIB = 1024 * 1024


def installed_bytes(wheels: list[Path]) -> int:
    """What the wheels unpack to: the sum of their files' sizes."""
    total = 0
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            total += sum(member.file_size for member in archive.infolist())
    return total


def write_sample(wheels: list[Path], target: Path, size: int) -> Path:
    """About size bytes of the wheels' unpacked files, each wheel's share in proportion to its size."""
    total = sum(wheel.stat().st_size for wheel in wheels)
    with target.open("wb") as out:
        for wheel in wheels:
            share = size * wheel.stat().st_size // total
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.infolist():
                    if share <= 0:
                        break
                    with archive.open(member) as source:
                        chunk = source.read(share)
                    out.write(chunk)
                    share -= len(chunk)
    return target


def _timed_process(command: list[str], sample: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of command reading sample on stdin, its output thrown away."""
    before = os.times()
    started = time.perf_counter()
    with sample.open("rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def compression_limits(sample: Path) -> dict[str, float | None]:
    """MiB/s of gzip -6 (one core, per CPU s), the fastest gzip there is (pigz -1, else python-isal
    level 1, per CPU s) and zstd -3 on every core (per wall s); None for a tool not installed."""
    mib = sample.stat().st_size / MIB
    limits: dict[str, float | None] = {}
    limits["gzip -6, 1 core"] = mib / _timed_process(["gzip", "-6", "-c"], sample)[1]
    if shutil.which("pigz"):
        limits["pigz -1, 1 core"] = mib / _timed_process(["pigz", "-1", "-p", "1", "-c"], sample)[1]
    else:
        limits["isal level 1, 1 core"] = _isal_rate(sample)
    limits["zstd -3, all cores"] = mib / _timed_process(["zstd", "-3", "-T0", "-c"], sample)[0] if shutil.which("zstd") else None
    return limits


def _isal_rate(sample: Path) -> float | None:
    try:
        from isal import igzip
    except ImportError:
        return None
    data = sample.read_bytes()
    started = time.process_time()
    igzip.compress(data, compresslevel=1)
    return len(data) / MIB / (time.process_time() - started)


def disk_write_rate(folder: Path, size: int) -> float:
    """MB/s of writing size bytes (incompressible) to a file in folder and fsyncing it."""
    block = os.urandom(4 * MIB)
    target = folder / "bench-disk-probe"
    started = time.perf_counter()
    with target.open("wb") as out:
        for _ in range(max(1, size // len(block))):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - started
    written = target.stat().st_size
    target.unlink()
    return written / 1e6 / seconds


def upload_rate(registry_url: str, size: int) -> float:
    """MB/s of one monolithic blob upload of size random bytes to the registry over loopback."""
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=registry_url, timeout=600) as client:
        started = time.perf_counter()
        opened = client.post("/v2/bench/probe/blobs/uploads/")
        opened.raise_for_status()
        location = opened.headers["location"]
        sep = "&" if "?" in location else "?"
        client.put(f"{location}{sep}digest={digest}", content=data,
                   headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        seconds = time.perf_counter() - started
    return size / 1e6 / seconds


def floors(*, uploaded: int, unpacked: int, limits: dict[str, float | None]) -> dict[str, float | None]:
    """Seconds each limit alone needs for a step that compresses `unpacked` bytes and uploads `uploaded`."""
    found: dict[str, float | None] = {}
    for name, rate in limits.items():
        if rate is None:
            found[name] = None
        elif name.startswith("disk"):
            found[name] = unpacked / 1e6 / rate
        elif name.startswith("upload"):
            found[name] = uploaded / 1e6 / rate
        else:
            found[name] = unpacked / MIB / rate
    return found
