"""Figures, side by side in one run: three tables.

- pip: the daemonless builder vs mlenv's Docker builder vs `docker build` + push of the same pip
  environment;
- conda (bench/conda.py): a conda environment beside the pip-only environment of the same pip packages;
- noop (bench/noop.py): no-op `mlenv build` processes beside a cached `docker build`, and the provider's
  no-op per resource in a stack of 200;
- startup (bench/startup.py): the daemonless image with its bytecode and without, its size and the
  cold import time of numpy, requests and tqdm in a fresh container (writable and read-only root).

Prints (never asserts) seconds and bytes for: a cold build, a one-pin change, and a no-op (cache hit:
in-process and as a whole `mlenv build` process). Starts its own registry, index and conda channel on
127.0.0.1 and the Docker engine if needed. Run with `make bench`; `--only pip|conda|noop|startup` runs one table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlenv.resolve.index import IndexSettings  # noqa: E402
from mlenv.pipeline import build  # noqa: E402
from mlenv.oci.rootfs import import_rootfs  # noqa: E402
from mlenv.definition.load import from_mapping  # noqa: E402
from testbed import services  # noqa: E402
from bench import conda, noop, startup  # noqa: E402
from bench.ml_meter import stored_bytes  # noqa: E402

PIP = ["numpy==1.26.4", "requests", "six==1.16.0"]
PIP_CHANGED = ["numpy==1.26.4", "requests", "six==1.17.0"]
NOOP_RUNS = 20

DOCKERFILE = """FROM {base}
RUN python3 -m venv /opt/env
ENV PATH=/opt/env/bin:$PATH OMP_NUM_THREADS=1
RUN pip install --no-cache-dir --index-url {index} {pip}
"""


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def mlenv_figures(base: str, registry: str, index: IndexSettings, work: Path) -> dict:
    os.environ["MLENV_CACHE_DIR"] = str(work / "cache")
    env = lambda pip: from_mapping({"image": base, "pip": pip, "variables": {"OMP_NUM_THREADS": "1"}})  # noqa: E731
    repository = f"{registry}/bench/mlenv"
    cold, cold_s = timed(lambda: build(env(PIP), repository, index=index))
    pin, pin_s = timed(lambda: build(env(PIP_CHANGED), repository, index=index))
    noop = [timed(lambda: build(env(PIP_CHANGED), repository, index=index))[1] for _ in range(NOOP_RUNS)]
    envfile = work / "env.yml"
    envfile.write_text(f"image: {base}\npip: {PIP_CHANGED}\nvariables: {{OMP_NUM_THREADS: '1'}}\n")
    cli = [timed(lambda: subprocess.run([str(Path(sys.executable).parent / "mlenv"), "build", str(envfile), "--registry", repository], check=True, capture_output=True))[1] for _ in range(5)]
    return {
        "no-op, `pulumi up` step: Check+Diff over gRPC (median)": (provider_noop(base, repository, index), 0),
        "cold build": (cold_s, cold.bytes_pushed),
        "one-pin change": (pin_s, pin.bytes_pushed),
        "no-op, in process (median)": (statistics.median(noop), 0),
        "no-op, `mlenv build` process (median)": (statistics.median(cli), 0),
    }


def mlenv_docker_figures(base: str, registry: str, index: IndexSettings) -> dict:
    """The same environment through mlenv's Docker builder (the engine builds, our client publishes).
    The engine's BuildKit cache is pruned first so the cold build is cold."""
    from mlenv.builders.docker.engine import docker_cli

    subprocess.run([docker_cli()[0], "builder", "prune", "-af"], check=True, capture_output=True)
    env = lambda pip: from_mapping({"image": base, "pip": pip, "variables": {"OMP_NUM_THREADS": "1"}, "builder": "docker"})  # noqa: E731
    repository = f"{registry}/bench/mlenv-docker"
    cold, cold_s = timed(lambda: build(env(PIP), repository, index=index))
    pin, pin_s = timed(lambda: build(env(PIP_CHANGED), repository, index=index))
    noop = [timed(lambda: build(env(PIP_CHANGED), repository, index=index))[1] for _ in range(NOOP_RUNS)]
    return {"cold build": (cold_s, cold.bytes_pushed), "one-pin change": (pin_s, pin.bytes_pushed), "no-op, in process (median)": (statistics.median(noop), 0)}


def provider_noop(base: str, repository: str, index: IndexSettings) -> float:
    """What `pulumi up` costs for an unchanged environment: the engine's Check and Diff calls."""
    from mlenv.provider import EnvironmentProvider
    from testbed.engine import ProviderProcess, Stack

    inputs = {"image": base, "pip": PIP_CHANGED, "variables": {"OMP_NUM_THREADS": "1"}, "repository": repository}
    with ProviderProcess(env={"MLENV_INDEX_URL": index.index_url}) as process:
        stack = Stack(process, type_token="pulumi-python:dynamic/mlenv:Environment")
        stack.up("bench", EnvironmentProvider(), inputs)
        return statistics.median(timed(lambda: stack.up("bench", EnvironmentProvider(), inputs))[1] for _ in range(NOOP_RUNS))


def docker_figures(base: str, registry, index_url: str, work: Path) -> dict:
    import docker

    client = docker.APIClient()
    figures = {}
    for label, pip, nocache in (("cold build", PIP, True), ("one-pin change", PIP_CHANGED, False), ("no-op, `docker build` (cached)", PIP_CHANGED, False)):
        context = work / "docker"
        context.mkdir(exist_ok=True)
        (context / "Dockerfile").write_text(DOCKERFILE.format(base=base, index=index_url, pip=" ".join(f"'{p}'" for p in pip)))
        tag = f"{registry.host}/bench/docker:latest"
        _, build_s = timed(lambda: list(client.build(path=str(context), tag=tag, network_mode="host", nocache=nocache, rm=True, decode=True)))
        before = stored_bytes(registry.root)
        _, push_s = timed(lambda: [_raise_on_error(event) for event in client.push(tag, stream=True, decode=True)])
        figures[label] = (build_s + push_s, stored_bytes(registry.root) - before)
    return figures


def _raise_on_error(event: dict) -> None:
    if "error" in event:
        raise RuntimeError(event["error"])


def main(argv: list[str] | None = None) -> None:
    global NOOP_RUNS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("pip", "conda", "noop", "startup"), help="run one table (default: all four)")
    parser.add_argument("--noop-runs", type=int, default=NOOP_RUNS, help=f"runs behind each in-process no-op median (default {NOOP_RUNS})")
    args = parser.parse_args(argv)
    NOOP_RUNS = args.noop_runs
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-") as tmp:
        work = Path(tmp)
        registry = services.start_registry(work / "registry")
        index = services.start_pypiserver(services.ensure_wheelhouse(), work / "index")
        try:
            if args.only in (None, "pip"):
                pip_section(registry, index.url, work)
            if args.only in (None, "conda"):
                conda.section(registry, index.url, work, NOOP_RUNS)
            if args.only in (None, "startup"):
                startup.section(registry, base_image(registry), index.url, work)
            if args.only in (None, "noop"):
                noop.section(registry, index.url, work)
        finally:
            index.stop()
            registry.stop()


def base_image(registry) -> str:
    base = f"{registry.host}/base/python:3.11-bookworm"
    import_rootfs(services.ensure_base_rootfs(), base)
    return base


def pip_section(registry, index_url: str, work: Path) -> None:
    base = base_image(registry)
    ours = mlenv_figures(base, registry.host, IndexSettings(index_url=index_url), work)
    services.ensure_dockerd()
    builder = mlenv_docker_figures(base, registry.host, IndexSettings(index_url=index_url))
    theirs = docker_figures(base, registry, index_url, work)
    print(f"\nEnvironment: {PIP} → one pin changed to {PIP_CHANGED[-1]}; base Debian bookworm python3")
    print(f"{'step':56} {'mlenv (oci, daemonless)':>26} {'mlenv (docker builder)':>26} {'docker build + push':>26}")
    rows = [("no-op, `pulumi up` step: Check+Diff over gRPC (median)", None), ("cold build", "cold build"), ("one-pin change", "one-pin change"), ("no-op, in process (median)", None),
            ("no-op, `mlenv build` process (median)", "no-op, `docker build` (cached)")]
    for ours_key, theirs_key in rows:
        left = _cell(ours[ours_key])
        middle = _cell(builder[ours_key]) if ours_key in builder else "—"
        right = _cell(theirs[theirs_key]) if theirs_key else "—"
        print(f"{ours_key:56} {left:>26} {middle:>26} {right:>26}")


def _cell(figure) -> str:
    seconds, pushed = figure
    shown = f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
    return f"{shown}, {pushed / 1e6:.2f} MB pushed"


if __name__ == "__main__":
    main()
