"""Push figures, side by side in one run, against a real registry on 127.0.0.1 (testbed):

- N layers pushed one at a time vs $MLENV_PUSH_CONCURRENCY-style several at once;
- the same image into a new repository of the same registry: uploaded (no record of where its blobs
  are) vs mounted (the cache's record, oci/blob_sources.py);
- the peak RSS of a process pushing one big blob, with this code and, given `--before REV`, with the
  code of that git revision (extracted with `git archive`), each in a fresh process.

Prints, never asserts. Run with `python bench/push.py [--before main]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed import services  # noqa: E402

MB = 1000 * 1000
UPLOAD_ONE = """
import sys
from pathlib import Path
from mlenv.oci.registry import RegistryStore

def rss(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field + ":"))

host, repository, path, digest = sys.argv[1:5]
store = RegistryStore(host, repository)
baseline = rss("VmRSS")
store.put_blob_file(digest, Path(path))
print(baseline, rss("VmHWM"))
"""


def random_file(path: Path, size: int) -> str:
    """A file of random bytes, written a MiB at a time; its digest."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            piece = os.urandom(min(left, 1 << 20))
            digest.update(piece)
            out.write(piece)
            left -= len(piece)
    return "sha256:" + digest.hexdigest()


def make_layers(folder: Path, count: int, size: int) -> list:
    from mlenv.oci.layers import Layer

    layers = []
    for number in range(count):
        path = folder / f"layer-{number}.bin"
        digest = random_file(path, size + number * 4096)  # sizes differ a little: the order is defined
        layers.append(Layer(path, digest, digest, path.stat().st_size, f"bench layer {number}"))
    return layers


def push(host: str, repository: str, layers: list, concurrency: int) -> tuple[float, object]:
    from mlenv.oci import image as img
    from mlenv.oci.publish import publish
    from mlenv.oci.registry import RegistryStore
    from mlenv.oci.uploads import BlobUploads

    config = img.to_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}})
    manifest = img.build_manifest(None, config, layers, {})
    store = RegistryStore(host, repository)
    started = time.perf_counter()
    try:
        with BlobUploads(store, concurrency) as uploads:
            report = publish(store, base=None, base_store=None, layers=layers, config=config, manifest=manifest, tag="bench", uploads=uploads)
    finally:
        store.close()
    return time.perf_counter() - started, report


def forget_records(cache: Path) -> None:
    shutil.rmtree(cache / "blob-sources", ignore_errors=True)


def peak_rss(code: Path, host: str, repository: str, blob: Path, digest: str) -> tuple[int, int, float]:
    """(RSS after imports, peak RSS, seconds) of a fresh process pushing the blob with the code under `code`."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code / "provider"), str(ROOT / "sdk")])}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", UPLOAD_ONE, host, repository, str(blob), digest], env=environment,
                          capture_output=True, text=True, check=True)
    baseline, peak = map(int, done.stdout.split())
    return baseline, peak, time.perf_counter() - started


def code_of(revision: str, folder: Path) -> Path:
    """The provider/ tree of a git revision, extracted into folder."""
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "provider"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def row(name: str, left: str, right: str) -> None:
    print(f"{name:52} {left:>24} {right:>24}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--layer-mb", type=int, default=32)
    parser.add_argument("--blob-mb", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--before", metavar="REV", help="also measure the peak RSS with the code of this git revision")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-push-") as temporary:
        work = Path(temporary)
        os.environ["MLENV_CACHE_DIR"] = str(work / "cache")
        registry = services.start_registry(work / "registry")
        try:
            layers = make_layers(work, args.layers, args.layer_mb * MB)
            total = sum(layer.size for layer in layers)
            one, _ = push(registry.host, "bench/one-at-a-time", layers, 1)
            forget_records(work / "cache")
            several, _ = push(registry.host, "bench/several", layers, args.concurrency)
            forget_records(work / "cache")
            uploaded, upload_report = push(registry.host, "bench/new-uploaded", layers, args.concurrency)
            mounted, mount_report = push(registry.host, "bench/new-mounted", layers, args.concurrency)

            blob = work / "big.bin"
            digest = random_file(blob, args.blob_mb * MB)
            after = peak_rss(ROOT, registry.host, "bench/big-after", blob, digest)
            before = peak_rss(code_of(args.before, work / "before"), registry.host, "bench/big-before", blob, digest) if args.before else None
        finally:
            registry.stop()
    print(f"\nPush to a local Distribution registry; {args.layers} layers, {total / MB:.0f} MB in all; chunks of $MLENV_CHUNK_SIZE (default 32M)")
    row(f"push of {args.layers} layers", "one at a time", f"{args.concurrency} at once")
    row("  seconds", f"{one:.2f} s", f"{several:.2f} s")
    row("same image into a new repository", "uploaded (no record)", "mounted (recorded)")
    row("  seconds", f"{uploaded:.2f} s", f"{mounted:.2f} s")
    row("  bytes pushed (blobs uploaded / mounted)", f"{upload_report.bytes_pushed / MB:.1f} MB ({upload_report.blobs_uploaded}/{upload_report.blobs_mounted})",
        f"{mount_report.bytes_pushed / 1000:.1f} kB ({mount_report.blobs_uploaded}/{mount_report.blobs_mounted})")
    row(f"one {args.blob_mb} MB blob, fresh process", f"before ({args.before})" if before else "before (--before REV)", "after (this code)")
    for label, index in (("  RSS after imports", 0), ("  peak RSS", 1)):
        row(label, f"{before[index] / MB:.0f} MB" if before else "-", f"{after[index] / MB:.0f} MB")
    row("  seconds (process)", f"{before[2]:.2f} s" if before else "-", f"{after[2]:.2f} s")


if __name__ == "__main__":
    main()
