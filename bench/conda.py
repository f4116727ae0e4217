"""The bench's conda section: a conda environment beside a pip-only environment, each built from its own
empty cache (MLENV_CACHE_DIR) so that "cold" really is cold.

The local conda channel's packages (testbed/conda_channel.py) have no PyPI twins, so the two sides share
only their pip packages; the printed header says exactly what each side holds. Cold builds and one-pin
changes run as whole `mlenv build` processes, so their peak RSS is that build's largest process. The
figures are printed, never asserted: tests/integration/test_bench_conda.py only checks that rows appear.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mlenv
from mlenv.definition.load import from_mapping
from mlenv.oci.rootfs import import_rootfs
from mlenv.pipeline import build
from mlenv.resolve.index import IndexSettings
from testbed import services
from testbed.conda_channel import ensure_conda_channel, start_conda_channel

ROOT = Path(__file__).resolve().parent.parent
CONDA = ["python=3.11", "pip", "tinylib=2.0", "chain-a", "mlhello"]
CONDA_CHANGED = ["python=3.11", "pip", "tinylib=1.0", "chain-a", "mlhello"]
PIP = ["six==1.16.0", "requests"]
PIP_CHANGED = ["six==1.17.0", "requests"]
STEPS = ("cold build (`mlenv build` process)", "one-pin change (`mlenv build` process)",
         "no-op, in process (median)", "no-op, `mlenv build` process (median)")


@dataclass
class Scenario:
    """One side of the table: the definition before and after its one-pin change."""

    name: str
    before: dict
    after: dict


@dataclass
class Run:
    seconds: float
    pushed: int = 0
    peak_rss: int = 0  # bytes; 0 when not measured (in-process runs)
    packages: tuple[str, ...] = ()


def section(registry: services.Server, index_url: str, work: Path, noop_runs: int) -> None:
    """Start the conda channel, build both scenarios and print their table."""
    channel = start_conda_channel(ensure_conda_channel(), work / "conda-channel")
    try:
        conda_base = f"{registry.host}/base/debian-nopython:bookworm"
        pip_base = f"{registry.host}/base/python:3.11-bookworm"
        import_rootfs(services.ensure_debian_without_python_rootfs(), conda_base)
        import_rootfs(services.ensure_base_rootfs(), pip_base)
        scenarios = [
            Scenario("conda", _conda_env(conda_base, channel.url, CONDA), _conda_env(conda_base, channel.url, CONDA_CHANGED)),
            Scenario("pip-only", {"image": pip_base, "pip": PIP}, {"image": pip_base, "pip": PIP_CHANGED}),
        ]
        figures = {s.name: measure(s, registry.host, index_url, work, noop_runs) for s in scenarios}
    finally:
        channel.stop()
    print_table(figures, noop_runs)


def _conda_env(image: str, channel: str, packages: list[str]) -> dict:
    return {"image": image, "conda": {"channels": [channel], "dependencies": [*packages, {"pip": PIP}]}}


def measure(scenario: Scenario, registry: str, index_url: str, work: Path, noop_runs: int) -> dict[str, Run]:
    """The four rows for one scenario, from a cache dir of its own that is removed afterwards."""
    cache = work / f"cache-{scenario.name}"
    repository = f"{registry}/bench/{scenario.name}"
    before, after = work / f"{scenario.name}-before.yml", work / f"{scenario.name}-after.yml"
    before.write_text(json.dumps(scenario.before))  # JSON is YAML
    after.write_text(json.dumps(scenario.after))
    command = lambda file: mlenv_build(file, repository, index_url=index_url, cache=cache)  # noqa: E731
    try:
        cold = command(before)
        pin = command(after)
        in_process = noop_in_process(scenario.after, repository, index_url=index_url, cache=cache, runs=noop_runs)
        processes = [command(after).seconds for _ in range(max(1, min(noop_runs, 5)))]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return dict(zip(STEPS, (cold, pin, Run(in_process), Run(statistics.median(processes))), strict=True))


# The child reports its own peak: VmHWM is its memory's high-water mark since exec; RUSAGE_CHILDREN covers
# uv and any other process it ran. (wait4's and RUSAGE_SELF's ru_maxrss would report this bench's own RSS
# instead: the kernel carries the pre-exec image's high-water mark over into a child's figure.)
PEAK_RSS_RUNNER = """
import resource, sys
from pathlib import Path
from mlenv.cli import main
code = main(sys.argv[2:])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
Path(sys.argv[1]).write_text(str(max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)))
sys.exit(code)
"""


def mlenv_build(file: Path, repository: str, *, index_url: str, cache: Path) -> Run:
    """`mlenv build FILE --json` as a child process: wall seconds, bytes pushed and peak RSS (KiB → bytes)."""
    environment = {**os.environ, "MLENV_CACHE_DIR": str(cache), "PYTHONPATH": _python_path()}
    rss_file = cache.parent / f"{cache.name}.peak-rss"
    command = [sys.executable, "-c", PEAK_RSS_RUNNER, str(rss_file), "build", str(file), "--registry", repository, "--index-url", index_url, "--json"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environment)
    seconds = time.perf_counter() - started
    if completed.returncode:
        raise RuntimeError(f"mlenv build {file.name} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    outputs = json.loads(completed.stdout)
    return Run(seconds, outputs["bytes_pushed"], int(rss_file.read_text()) * 1024, tuple(outputs["packages"]))


def _python_path() -> str:
    """The child imports the same mlenv as this process (a worktree's, under PYTHONPATH, or the venv's)."""
    entries = [str(Path(mlenv.__file__).resolve().parents[1]), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(entry for entry in entries if entry)


def noop_in_process(mapping: dict, repository: str, *, index_url: str, cache: Path, runs: int) -> float:
    """Median seconds of `build` on an environment the registry already holds (a cache hit)."""
    previous = os.environ.get("MLENV_CACHE_DIR")
    os.environ["MLENV_CACHE_DIR"] = str(cache)
    try:
        index = IndexSettings(index_url=index_url)
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            result = build(from_mapping(mapping), repository, index=index)
            seconds.append(time.perf_counter() - started)
            if not result.cache_hit:
                raise RuntimeError(f"the no-op build of {repository} was not a cache hit")
        return statistics.median(seconds)
    finally:
        if previous is None:
            os.environ.pop("MLENV_CACHE_DIR", None)
        else:
            os.environ["MLENV_CACHE_DIR"] = previous


def print_table(figures: dict[str, dict[str, Run]], noop_runs: int) -> None:
    conda, pip = figures["conda"][STEPS[0]].packages, figures["pip-only"][STEPS[0]].packages
    conda_records = [p for p in conda if p.count("=") == 3]  # name==version=build; wheels are name==version
    print("\nConda environment beside a pip-only environment; each from its own empty cache, one run each unless a median")
    print(f"  conda:    Debian bookworm without Python + conda {' '.join(CONDA)} from the local channel "
          f"({len(conda_records)} records: {', '.join(p.split('==')[0] for p in conda_records)}) + pip {' '.join(PIP)}")
    print(f"  pip-only: Debian bookworm's python3 + pip {' '.join(PIP)}")
    print(f"  shared:   only the pip packages ({len(conda) - len(conda_records)} wheels vs {len(pip)}): the channel's packages have no PyPI twins")
    print("  pushed:   what mlenv uploaded; base layers are mounted from the base's repository, not counted")
    print(f"  one-pin change: conda tinylib=2.0 → tinylib=1.0; pip-only six==1.16.0 → six==1.17.0; in-process no-op: median of {noop_runs}")
    print(f"{'step':44} {'conda':>40} {'pip-only':>40}")
    for step in STEPS:
        print(f"{step:44} {_cell(figures['conda'][step]):>40} {_cell(figures['pip-only'][step]):>40}")


def _cell(run: Run) -> str:
    shown = f"{run.seconds * 1000:.1f} ms" if run.seconds < 1 else f"{run.seconds:.2f} s"
    rss = f", {run.peak_rss / 1e6:.0f} MB peak RSS" if run.peak_rss else ""
    return f"{shown}, {_size(run.pushed)} pushed{rss}"


def _size(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB" if count else "0 B"
