"""Scale figures (`make bench-ml`): a torch + CUDA environment (torch==2.5.1 with its nvidia-*-cu12
wheels, triton, numpy, pandas, scikit-learn: ~33 packages, 2.9 GB of wheels, 5.5 GB installed) for
CPython 3.11 on the testbed's Debian bookworm base, built by `mlenv build` (daemonless) and by
`docker build` + `docker push` of the same Dockerfile, both from one local index into one local registry.

Steps for each side: cold (empty mlenv cache / `docker build --no-cache`; the base is present), the
warm cache into a new repository, a one-pin change (six), a no-op, and the same no-op repeated (for
mlenv, the second cache hit of one command: replayed, replay.py). Each step: wall and CPU seconds,
bytes the registry's storage grew by, peak RSS (bench/ml_meter.py). In the same run the machine's limits
(bench/ml_limits.py) and each mlenv figure's distance to them; and whether two cold mlenv builds from
separate empty caches give one digest. Prints a markdown table and writes it as JSON under
bench/results/. Never asserts. Wheels are downloaded from PyPI once into ~/.cache/mlenv/bench-ml-wheels
and kept; everything else the run makes is deleted unless --keep. --small: numpy + six only. --only
mlenv (or docker): one side (docker's steps cost minutes; compare a change's mlenv figures before and
after in the same conditions, then run both sides once). --once: no second cold mlenv build.

The index is testbed's pypiserver, answering as a real index does (testbed/pypi_index.py: each wheel
hashed once, requests served in parallel), for both sides alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ml_limits, ml_report  # noqa: E402
from bench.conda import _python_path  # noqa: E402
from bench.ml_meter import EngineMeter, RegistryGauge, Step, run_measured  # noqa: E402
from mlenv.oci.rootfs import import_rootfs  # noqa: E402
from testbed import services  # noqa: E402

FULL = ["torch==2.5.1", "triton==3.1.0", "numpy==2.1.3", "pandas==2.2.3", "scikit-learn==1.5.2", "six==1.16.0"]
SMALL = ["numpy==2.1.3", "six==1.16.0"]
VENV_PIP = "pip==24.3.1"  # the daemonless venv's own pip (builder /2), served by the bench's index like any wheel
PIN_BEFORE, PIN_AFTER = "six==1.16.0", "six==1.17.0"
WHEELS = services.CACHE / "bench-ml-wheels"
WORK = services.CACHE / "bench-ml-run"
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("cold", "warm cache, new repository", "one-pin change", "no-op", "no-op, repeated")
SIDES = ("mlenv", "docker")
DOCKERFILE = """FROM {base}
RUN python3 -m venv /opt/env
ENV PATH=/opt/env/bin:$PATH
RUN pip install --no-cache-dir --disable-pip-version-check --index-url {index} {pip}
"""
NEED_FREE = {False: 30e9, True: 2e9}  # bytes free on the cache's disk before a full / small run


@dataclass
class Run:
    """What both sides build from: the servers, the base, the two pip lists, the work folder."""

    registry: services.Server
    gauge: RegistryGauge
    index_url: str
    base: str
    before: list[str]
    after: list[str]
    work: Path


def ensure_wheels() -> Path:
    """The full set's wheels for Linux x86_64 / CPython 3.11 (and six's other version), from PyPI once."""
    wanted = "\n".join([*FULL, PIN_AFTER])
    marker = WHEELS / ".complete"
    if marker.exists() and marker.read_text() == wanted:
        _ensure_venv_pip()
        return WHEELS
    shutil.rmtree(WHEELS, ignore_errors=True)  # a different set: start again, so the folder stays bounded
    WHEELS.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
                "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp", "-d", str(WHEELS)]
    subprocess.run([*download, *FULL], check=True, env={**env, "PIP_CONFIG_FILE": os.devnull})
    subprocess.run([*download, "--no-deps", PIN_AFTER], check=True, env={**env, "PIP_CONFIG_FILE": os.devnull})
    marker.write_text(wanted)
    _ensure_venv_pip()
    return WHEELS


def _ensure_venv_pip() -> None:
    if not any(WHEELS.glob("pip-*.whl")):
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(WHEELS), VENV_PIP],
                       check=True, env={**env, "PIP_CONFIG_FILE": os.devnull})


def wheels_of(requirements: list[str]) -> list[Path]:
    """The wheels a pip list installs: all of the full set's, or only the named ones for --small."""
    names = {requirement.split("==")[0].replace("-", "_") for requirement in [*requirements, VENV_PIP]}
    everything = requirements == FULL
    pin_after = PIN_AFTER.replace("==", "-")
    return sorted(wheel for wheel in WHEELS.glob("*.whl")
                  if not wheel.name.startswith(pin_after) and (everything or wheel.name.split("-")[0].lower() in names))


def mlenv_side(run: Run, *, again: bool = True) -> tuple[dict[str, Step], list[str], int]:
    """The four steps from one cache, then (unless not `again`) a second cold build from another:
    steps, cold digests, packages."""
    first, second = run.work / "mlenv-cache-1", run.work / "mlenv-cache-2"
    steps = {}
    for scenario, pip, repository in zip(SCENARIOS, (run.before, run.before, run.after, run.after, run.after),
                                         ("bench-ml/mlenv-cold", *["bench-ml/mlenv-warm"] * 4), strict=True):
        steps[scenario] = progress("mlenv", scenario, mlenv_build(run, pip, repository, first))
    shutil.rmtree(first)
    digests = [steps["cold"].extra["digest"]]
    if again:
        second_cold = progress("mlenv", "cold again, another empty cache", mlenv_build(run, run.before, "bench-ml/mlenv-cold-again", second))
        shutil.rmtree(second)
        digests.append(second_cold.extra["digest"])
    return steps, digests, steps["cold"].extra["packages"]


def mlenv_build(run: Run, pip: list[str], repository: str, cache: Path) -> Step:
    """`mlenv build --json` as a process of its own, with its own cache folder."""
    definition, text = run.work / "environment.yml", json.dumps({"image": run.base, "pip": pip})  # JSON is YAML
    if not definition.is_file() or definition.read_text() != text:  # left as it is, as a user's file between runs
        definition.write_text(text)
    env = {**os.environ, "MLENV_CACHE_DIR": str(cache), "PYTHONPATH": _python_path()}
    command = [sys.executable, "-m", "mlenv.cli", "build", str(definition), "--registry", f"{run.registry.host}/{repository}",
               "--index-url", run.index_url, "--json"]
    step, printed = run_measured(command, registry=run.gauge, env=env)
    outputs = json.loads(printed)
    step.extra = {"digest": outputs["digest"], "cache_hit": outputs["cache_hit"], "packages": len(outputs["packages"]),
                  "reported_bytes_pushed": outputs["bytes_pushed"]}
    return step


def docker_tags(run: Run) -> list[str]:
    return [f"{run.registry.host}/bench-ml/docker-cold:latest", f"{run.registry.host}/bench-ml/docker-warm:latest"]


def docker_side(run: Run) -> dict[str, Step]:
    """`docker build` + `docker push` of the same environment, the engine's work included."""
    cold_tag, warm_tag = docker_tags(run)
    subprocess.run(["docker", "pull", "--quiet", run.base], check=True, capture_output=True)  # the base is present
    plan = zip(SCENARIOS, (run.before, run.before, run.after, run.after, run.after), (cold_tag, *[warm_tag] * 4),
               (True, False, False, False, False), strict=True)
    return {scenario: progress("docker", scenario, docker_step(run, pip, tag, no_cache=no_cache)) for scenario, pip, tag, no_cache in plan}


def progress(side: str, scenario: str, step: Step) -> Step:
    """One line on stderr per step as it ends: a long run shows where it is."""
    print(f"bench-ml: {side} {scenario}: {step.wall:.1f} s, {step.cpu:.1f} s CPU, {step.uploaded / 1e6:.1f} MB uploaded",
          file=sys.stderr, flush=True)
    return step


def docker_step(run: Run, pip: list[str], tag: str, *, no_cache: bool) -> Step:
    context = run.work / "docker-context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=run.base, index=run.index_url, pip=" ".join(f"'{p}'" for p in pip)))
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder: the engine has no buildx here
    build = ["docker", "build", "--quiet", "--network=host", "--force-rm", *(["--no-cache"] if no_cache else []), "-t", tag, str(context)]
    total = Step()
    for command in (build, ["docker", "push", tag]):
        with EngineMeter() as engine:
            client, printed = run_measured(command, registry=run.gauge, env=env)
        total = total.add(client).add(engine.step)
    total.extra = {"layers": push_outcomes(printed)}
    return total


def push_outcomes(printed: str) -> dict[str, int]:
    """How many layers `docker push` uploaded, mounted from another repository, or found there."""
    lines = [line.split(": ", 1)[-1] for line in printed.splitlines()]
    return {"pushed": sum(line == "Pushed" for line in lines), "mounted": sum(line.startswith("Mounted from") for line in lines),
            "already there": sum(line == "Layer already exists" for line in lines)}


def machine_limits(run: Run, wheels: list[Path], small: bool) -> dict[str, float | None]:
    scale = 8 if small else 1
    sample = ml_limits.write_sample(wheels, run.work / "sample.bin", 256 * ml_limits.MIB // scale)
    limits = ml_limits.compression_limits(sample)
    sample.unlink()
    limits["disk write, MB/s"] = ml_limits.disk_write_rate(run.work, 1024 * ml_limits.MIB // scale)
    # the best of three: one probe on a busy machine measured 9 MB/s where the build itself sent 28
    limits["upload to the registry, MB/s"] = max(ml_limits.upload_rate(run.registry.url, 256 * ml_limits.MIB // scale) for _ in range(3))
    return limits


def remove_docker_images() -> None:
    """Every reference a bench-ml run made (this one's, or what a killed one left: its repositories are
    bench-ml/…), by tag and by digest: a pushed image untagged stays behind under its digest. Never by
    image ID: the base's ID is the same as other runs' copies of the testbed base."""
    listed = subprocess.run(["docker", "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"],
                            capture_output=True, text=True).stdout
    references = []
    for repository, tag, digest in (line.split() for line in listed.splitlines() if "/bench-ml/" in line):
        references += [f"{repository}:{tag}"] * (tag != "<none>") + [f"{repository}@{digest}"] * (digest != "<none>")
    if references:
        subprocess.run(["docker", "rmi", *references], capture_output=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="numpy + six only: a quick smoke run")
    parser.add_argument("--keep", action="store_true", help=f"keep what the run made ({WORK}, the Docker images)")
    parser.add_argument("--only", choices=SIDES, help="measure one side only (the figures of the other are not in the report)")
    parser.add_argument("--once", action="store_true", help="no second cold mlenv build (the digest check across caches)")
    args = parser.parse_args(argv)
    with one_run_at_a_time():
        return run_all(args)


@contextlib.contextmanager
def one_run_at_a_time():
    """Runs share the work folder and the Docker tags: a second one stops at once instead of mixing in."""
    services.CACHE.mkdir(parents=True, exist_ok=True)
    with (services.CACHE / ".bench-ml.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"another bench-ml run is going on (it holds {handle.name}); wait for it to end")
        yield


def run_all(args: argparse.Namespace) -> dict:
    ensure_wheels()
    shutil.rmtree(WORK, ignore_errors=True)  # what a killed run left
    WORK.mkdir(parents=True)
    if shutil.disk_usage(WORK).free < NEED_FREE[args.small]:
        sys.exit(f"bench-ml needs {NEED_FREE[args.small] / 1e9:.0f} GB free on {WORK}'s disk; `df -h` shows what there is")
    services.ensure_dockerd()
    try:
        figures = measure(SMALL if args.small else FULL, small=args.small, keep=args.keep,
                          sides=(args.only,) if args.only else SIDES, again=not args.once)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    print(ml_report.markdown(figures))
    saved = ml_report.save(figures, RESULTS, datetime.datetime.now(datetime.timezone.utc))
    print(f"\nwritten to {saved}")
    return asdict(figures)


def measure(before: list[str], *, small: bool, keep: bool = False, sides: tuple[str, ...] = SIDES, again: bool = True) -> ml_report.Figures:
    """Start the registry and the index, then the limits, the mlenv side and the Docker side (those of `sides`)."""
    registry = services.start_registry(WORK / "registry")
    index = services.start_pypiserver(WHEELS, WORK / "index")
    base = f"{registry.host}/bench-ml/base:3.11-bookworm"
    try:
        with RegistryGauge(registry.root, int(registry.host.rsplit(":", 1)[1])) as gauge:
            run = Run(registry, gauge, index.url, base, before, [PIN_AFTER if p == PIN_BEFORE else p for p in before], WORK)
            remove_docker_images()
            try:
                import_rootfs(services.ensure_base_rootfs(), base)
                wheels = wheels_of(before)
                limits = machine_limits(run, wheels, small)
                steps, digests, packages = {}, [], len(wheels)
                if "mlenv" in sides:
                    steps["mlenv"], digests, packages = mlenv_side(run, again=again)
                if "docker" in sides:
                    steps["docker"] = docker_side(run)
            finally:
                if not keep:
                    remove_docker_images()
    finally:
        index.stop()
        registry.stop()
    return ml_report.Figures(small=small, packages=packages, wheel_bytes=sum(w.stat().st_size for w in wheels),
                             installed_bytes=ml_limits.installed_bytes(wheels), steps=steps,
                             limits=limits, cold_digests=digests, wire_counted=gauge.counting)


if __name__ == "__main__":
    main()
