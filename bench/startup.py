"""Start-up figures (bench/run.py's third table): the same pip environment built by the daemonless
builder with its bytecode and without (as on a machine with no interpreter of the target's version),
side by side: build time, image size, and the cold `import numpy, requests, tqdm` in a fresh
container, with a writable and a read-only root file system. Printed, never asserted."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from unittest import mock

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build
from mlenv.resolve.index import IndexSettings

PIP = ["numpy==1.26.4", "requests", "tqdm"]
RUNS = 5
IMPORT = "import time; t = time.perf_counter(); import numpy, requests, tqdm; print(time.perf_counter() - t)"


def section(registry, base: str, index_url: str, work: Path) -> None:
    import docker

    from testbed import services

    services.ensure_dockerd()
    client = docker.from_env()
    figures = {label: _figures(client, registry.host, base, IndexSettings(index_url=index_url), bytecode=bytecode)
               for label, bytecode in (("bytecode off (before)", False), ("bytecode on (after)", True))}
    print(f"\nStart-up: {PIP} on Debian bookworm python3; each import in a fresh container (median of {RUNS})")
    print(f"{'figure':44} " + " ".join(f"{label:>24}" for label in figures))
    for row in next(iter(figures.values())):
        print(f"{row:44} " + " ".join(f"{figures[label][row]:>24}" for label in figures))
    client.close()


def _figures(client, registry_host: str, base: str, index: IndexSettings, *, bytecode: bool) -> dict[str, str]:
    definition = from_mapping({"image": base, "pip": PIP})
    repository = f"{registry_host}/bench/startup-{'on' if bytecode else 'off'}"
    start = time.perf_counter()
    if bytecode:
        result = build(definition, repository, index=index)
    else:  # as on a machine without python3.11: the lock says "none", the layers carry no bytecode
        with mock.patch("mlenv.builders.daemonless.bytecode_decision", lambda *_: None):
            result = build(definition, repository, index=index)
    build_s = time.perf_counter() - start
    client.images.pull(result.image_ref)
    image = client.images.get(result.image_ref)
    return {
        "cold build (mlenv)": f"{build_s:.2f} s",
        "bytes pushed": f"{result.bytes_pushed / 1e6:.1f} MB",
        "image size (docker, uncompressed)": f"{image.attrs['Size'] / 1e6:.1f} MB",
        "import, writable root": _imports(client, result.image_ref, read_only=False),
        "import, read-only root": _imports(client, result.image_ref, read_only=True),
        "`docker run` wall time, read-only root": _wall(client, result.image_ref),
    }


def _imports(client, image: str, *, read_only: bool) -> str:
    seconds = [float(client.containers.run(image, ["python", "-c", IMPORT], remove=True, read_only=read_only)) for _ in range(RUNS)]
    return f"{statistics.median(seconds) * 1000:.0f} ms"


def _wall(client, image: str) -> str:
    def once() -> float:
        start = time.perf_counter()
        client.containers.run(image, ["python", "-c", "import numpy, requests, tqdm"], remove=True, read_only=True)
        return time.perf_counter() - start
    return f"{statistics.median(once() for _ in range(RUNS)) * 1000:.0f} ms"
