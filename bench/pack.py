"""Layer packing, side by side in one run: the same wheels packed into layers with the old gzip -6
(Python's zlib, one layer at a time, as before), ISA-L gzip and zstd, on 1 and on N workers.

Prints (never asserts) for each: wall seconds, CPU seconds (all threads), MB/s of tar packed, and
the compressed size. Each run packs into an empty layer cache, so nothing is reused. The wheels are
the test index's (tests' wheelhouse: numpy and friends) plus any given with `--wheel PATH` (a
bigger one, e.g. a torch or pandas wheel, makes the figures closer to a real build).
Run: `PYTHONPATH=provider:sdk:. python bench/pack.py [--workers N] [--wheel big.whl ...]`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "provider")]

from mlenv.builders.pip_layers import package_job, plan_layers  # noqa: E402
from mlenv.oci.compression import GZIP, ZSTD, default_threads  # noqa: E402
from mlenv.oci.layers import pack_layers  # noqa: E402
from mlenv.oci.mediatypes import OCI_LAYER_GZIP  # noqa: E402
from mlenv.resolve.pip_lock import LockedWheel  # noqa: E402
from testbed import services  # noqa: E402


class OldGzip:
    """What layers were compressed with before: Python's gzip at level 6 (header mtime 0)."""

    name, media_type, suffix, level, cache_id = "gzip-6", OCI_LAYER_GZIP, ".tar.gz", 6, "zlib-gzip/level=6"

    @contextmanager
    def writer(self, raw, threads: int):
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as stream:
            yield stream


def locked(paths: list[Path]) -> tuple[list[LockedWheel], dict[str, Path]]:
    wheels, files = [], {}
    for path in paths:
        name = path.name.split("-")[0].lower()
        if name in files:
            continue  # one version of each package: they would be one environment
        wheels.append(LockedWheel(name, path.name.split("-")[1], path.name, path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size))
        files[name] = path
    return wheels, files


def run(jobs, compressor, workers: int) -> tuple[float, float, int, int]:
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-pack-") as cache:
        os.environ["MLENV_CACHE_DIR"] = cache
        wall, cpu = time.perf_counter(), time.process_time()
        layers = pack_layers(jobs, compressor=compressor, workers=workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tar_bytes = sum(_tar_size(layer) for layer in layers)
        return wall, cpu, tar_bytes, sum(layer.size for layer in layers)


def _tar_size(layer) -> int:
    """The uncompressed size, counted by reading the layer back (not timed)."""
    import zstandard

    opener = zstandard.open if layer.path.suffix == ".zst" else gzip.open
    total = 0
    with opener(layer.path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=default_threads(), help="N (default: $MLENV_PACK_WORKERS or the CPU count)")
    parser.add_argument("--wheel", action="append", default=[], type=Path, help="another wheel to pack (repeatable)")
    args = parser.parse_args()
    house = services.ensure_wheelhouse()
    wheels, files = locked(list(args.wheel) + sorted(p for p in house.glob("*.whl") if "cp311" in p.name or "none-any" in p.name))
    jobs = [package_job(group, files, "3.11") for group in plan_layers(wheels)]
    print(f"{len(jobs)} layers from {len(wheels)} wheels ({sum(w.size for w in wheels) / 2**20:.0f} MiB of wheels); "
          f"{os.cpu_count()} CPUs, N = {args.workers}")
    print(f"{'compressor':<28}{'workers':>8}{'seconds':>10}{'CPU s':>9}{'MB/s':>9}{'compressed MB':>15}")
    for label, compressor, workers in (("gzip -6 (zlib, before)", OldGzip(), 1), ("gzip -6 (zlib, pool)", OldGzip(), args.workers),
                                       (f"gzip ISA-L level {GZIP.level}", GZIP, 1), (f"gzip ISA-L level {GZIP.level}", GZIP, args.workers),
                                       (f"zstd level {ZSTD.level}", ZSTD, 1), (f"zstd level {ZSTD.level}", ZSTD, args.workers)):
        wall, cpu, tar_bytes, size = run(jobs, compressor, workers)
        print(f"{label:<28}{workers:>8}{wall:>10.2f}{cpu:>9.2f}{tar_bytes / 1e6 / wall:>9.1f}{size / 1e6:>15.1f}")
    print("  MB/s: uncompressed tar bytes per wall second; the wheels are inflated and the tar written in each run")


if __name__ == "__main__":
    main()
