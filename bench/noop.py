"""The no-op, side by side in one run (issue 13): a whole `mlenv build` process on a cache hit, for a
pip and a conda definition, beside a whole `docker build` process of an equivalent, fully cached
Dockerfile on the real engine; and the provider's no-op per resource (Check + Diff over gRPC, what
`pulumi up` costs for an unchanged resource) in a stack of many resources.

`mlenv build` rows run the `mlenv` console script beside this interpreter, as a user types it: the
replay of the last cache hit (replay.py: a repeated command), and the full path (a new
MLENV_BENCH_RUN value per run gives each run a new memo key, so none is replayed). The runs
alternate (every row once, then again), so a busy machine slows all of them alike. Figures are
printed, never asserted. Modules are byte-compiled once into a folder of this run (as an installed
package is), so no run pays for compiling sources. Run with the project's venv (`make bench`):
`python bench/noop.py`, or `python bench/run.py --only noop`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlenv.definition.load import from_mapping  # noqa: E402
from mlenv.oci.rootfs import import_rootfs  # noqa: E402
from mlenv.pipeline import build  # noqa: E402
from mlenv.resolve.index import IndexSettings  # noqa: E402
from testbed import services  # noqa: E402
from testbed.conda_channel import ensure_conda_channel, start_conda_channel  # noqa: E402

PIP = ["numpy==1.26.4", "requests", "six==1.16.0"]
CONDA = ["python=3.11", "pip", "tinylib=2.0", "chain-a", "mlhello"]
DOCKERFILE = """FROM {base}
RUN python3 -m venv /opt/env
ENV PATH=/opt/env/bin:$PATH OMP_NUM_THREADS=1
RUN /opt/env/bin/pip install --no-cache-dir --index-url {index} {pip}
"""


def section(registry: services.Server, index_url: str, work: Path, runs: int = 10, resources: int = 200) -> None:
    """Build both definitions once, then time their no-ops, `docker build`'s, and the provider's."""
    channel = start_conda_channel(ensure_conda_channel(), work / "noop-channel")
    try:
        pip_base, conda_base = f"{registry.host}/base/python:3.11-bookworm", f"{registry.host}/base/debian-nopython:bookworm"
        import_rootfs(services.ensure_base_rootfs(), pip_base)
        import_rootfs(services.ensure_debian_without_python_rootfs(), conda_base)
        environment = _child_environment(work, index_url)
        definitions = {
            "pip": {"image": pip_base, "pip": PIP, "variables": {"OMP_NUM_THREADS": "1"}},
            "conda": {"image": conda_base, "conda": {"channels": [channel.url], "dependencies": [*CONDA, {"pip": ["six==1.16.0"]}]}},
        }
        program = Path(sys.executable).parent / "mlenv"
        if not program.is_file():
            raise SystemExit(f"no mlenv console script beside {sys.executable}: run the bench with the project's venv (make bench)")
        mlenv = {name: _mlenv_noop(definition, f"{registry.host}/bench/noop-{name}", work, environment)
                 for name, definition in definitions.items()}
        fresh_key = lambda run: {**environment, "MLENV_BENCH_RUN": str(run)}  # noqa: E731
        commands = {
            "pip": ([str(program), *mlenv["pip"]], lambda run: environment),
            "pip, full path": ([str(program), *mlenv["pip"]], fresh_key),
            "conda": ([str(program), *mlenv["conda"]], lambda run: environment),
            "conda, full path": ([str(program), *mlenv["conda"]], fresh_key),
            "docker": (_docker_noop(pip_base, index_url, work), lambda run: environment),
        }
        times = _alternating(commands, runs)
        per_resource = provider_noop(definitions["pip"], f"{registry.host}/bench/noop-pip", index_url, resources)
    finally:
        channel.stop()
    _print(times, per_resource, resources, runs)


def _child_environment(work: Path, index_url: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    python_path = os.pathsep.join(str(ROOT / part) for part in ("provider", "sdk", "."))
    return {**environment, "PYTHONPYCACHEPREFIX": str(work / "pycache"), "PYTHONPATH": python_path,
            "MLENV_INDEX_URL": index_url, "MLENV_CACHE_DIR": str(work / "noop-cache")}


def _mlenv_noop(definition: dict, repository: str, work: Path, environment: dict) -> list[str]:
    """The `mlenv` arguments of a `build` of a definition whose image is already pushed (built here once)."""
    os.environ["MLENV_CACHE_DIR"] = environment["MLENV_CACHE_DIR"]
    build(from_mapping(definition), repository, index=IndexSettings(index_url=environment["MLENV_INDEX_URL"]))
    path = work / f"noop-{len(list(work.glob('noop-*.yml')))}.yml"
    path.write_text(json.dumps(definition))  # JSON is YAML
    return ["build", str(path), "--registry", repository]


def _docker_noop(base: str, index_url: str, work: Path) -> list[str]:
    """`docker build` of the pip definition's Dockerfile, built once so every later run is all cache."""
    services.ensure_dockerd()
    context = work / "noop-docker"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base, index=index_url, pip=" ".join(f"'{p}'" for p in PIP)))
    command = [shutil.which("docker") or "docker", "build", "-q", "--network", "host", "-t", "mlenv-bench/noop", str(context)]
    subprocess.run(command, check=True, capture_output=True)
    return command


def _alternating(commands: dict[str, tuple[list[str], Callable[[int], dict]]], runs: int) -> dict[str, list[float]]:
    """Each command's seconds per run; `commands` maps a row to (argv, its environment for run N)."""
    for command, environment in commands.values():  # a warm-up run each: byte-compiled modules, the memo, the engine's cache
        subprocess.run(command, check=True, capture_output=True, env=environment(-1))
    times: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(runs):
        for name, (command, environment) in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=environment(run), stdin=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - started)
            if done.returncode:
                raise RuntimeError(f"{name} no-op failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return times


def provider_noop(definition: dict, repository: str, index_url: str, resources: int) -> float:
    """Seconds per resource of an unchanged `pulumi up` over `resources` resources: the engine's Check
    and Diff calls for each (the program's own work, pickling the provider into the inputs, is
    done once per resource before, as the program does it, and not counted)."""
    from mlenv.provider import EnvironmentProvider
    from testbed.engine import DIFF_NONE, ProviderProcess, Stack

    provider = EnvironmentProvider()
    with ProviderProcess(env={"MLENV_INDEX_URL": index_url}) as process:
        stack = Stack(process, type_token="pulumi-python:dynamic/mlenv:Environment")
        goals = []
        for n in range(resources):  # created: each a cache hit of the image built above
            inputs = {**definition, "description": f"resource {n}", "repository": repository}
            stack.up(f"env{n}", provider, inputs)
            goals.append((stack.urn(f"env{n}"), stack.state[f"env{n}"], stack.goal(provider, inputs)))
        started = time.perf_counter()
        diffs = [_check_and_diff(process, urn, old, goal) for urn, old, goal in goals]
        seconds = time.perf_counter() - started
    if set(diffs) != {DIFF_NONE}:
        raise RuntimeError(f"an unchanged stack should have no changes, got {sorted(set(diffs))}")
    return seconds / resources


def _check_and_diff(process, urn: str, old: dict, goal: dict):
    checked, failures = process.check(urn, old["inputs"], goal)
    if failures:
        raise RuntimeError(f"check failed: {failures}")
    return process.diff(urn, old["id"], old["outputs"], checked, old_inputs=old["inputs"]).changes


def _print(times: dict[str, list[float]], per_resource: float, resources: int, runs: int) -> None:
    print(f"\nNo-op (cache hit), whole processes, median of {runs} alternating runs (min in brackets)")
    labels = {"pip": f"`mlenv build` replayed, pip definition {PIP}", "pip, full path": "`mlenv build`, the same, full path (not replayed)",
              "conda": f"`mlenv build` replayed, conda definition {CONDA}", "conda, full path": "`mlenv build`, the same, full path (not replayed)",
              "docker": "`docker build`, the pip definition's Dockerfile, fully cached"}
    for name, label in labels.items():
        print(f"{label:86} {statistics.median(times[name]) * 1000:7.1f} ms  ({min(times[name]) * 1000:.1f} ms)")
    print(f"{f'`pulumi up` no-op per resource: Check + Diff over gRPC, {resources} resources':86} {per_resource * 1000:7.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="alternating runs behind each median (default 10)")
    parser.add_argument("--resources", type=int, default=200, help="resources in the provider's stack (default 200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-noop-") as tmp:
        work = Path(tmp)
        registry = services.start_registry(work / "registry")
        index = services.start_pypiserver(services.ensure_wheelhouse(), work / "index")
        try:
            section(registry, index.url, work, args.runs, args.resources)
        finally:
            index.stop()
            registry.stop()


if __name__ == "__main__":
    main()
