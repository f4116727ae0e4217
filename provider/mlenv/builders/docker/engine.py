"""The Docker builder: build contexts, Dockerfile text, and base image + pip + Docker steps, built by
a real Docker engine, then published by the same path as the daemonless builder (our registry
client: HEAD → mount → upload, manifest by digest, tag last) with the same annotations and outputs.

The build itself goes through the docker CLI with BuildKit, not the Engine API: the API's build
endpoint (and so the docker SDK) is the legacy builder, which has no build secrets
(`RUN --mount=type=secret`) and no bind mounts; BuildKit over the API needs its session protocol,
which the SDK lacks. Everything else (inspect, save, run for verify) uses the docker SDK.

This module runs the engine (find a BuildKit-capable CLI, build, verify); `recipe` turns a
definition into a build context, Dockerfile and secrets; `saved_image` turns the built image back
into our layers and config; `builder` puts them together as the `Builder` the pipeline runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from mlenv.diagnostics.errors import BuildError, EngineError

BUILD_REPOSITORY = "mlenv-build"


def docker_cli() -> list[str]:
    """A docker CLI that can run BuildKit builds: one with buildx, or a classic one (< 23) whose
    `DOCKER_BUILDKIT=1 docker build` has BuildKit built in. MLENV_DOCKER names one explicitly."""
    candidates = [os.environ.get("MLENV_DOCKER"), shutil.which("docker"), "/usr/bin/docker"]
    for candidate in dict.fromkeys(c for c in candidates if c and os.path.exists(c)):
        if _succeeds([candidate, "buildx", "version"]):
            return [candidate, "buildx", "build", "--load"]
        version = _output([candidate, "version", "--format", "{{.Client.Version}}"])
        if version and int(version.split(".")[0]) < 23:
            return [candidate, "build"]
    raise EngineError("docker", "no docker CLI with BuildKit found (docker buildx, or docker < 23)", "install docker.io (Debian) or docker-buildx, or set MLENV_DOCKER to a docker CLI with BuildKit", rule="docker.engine-unreachable")


def _succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def engine():
    """A docker SDK client, or an EngineError saying how to reach an engine."""
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except Exception as error:  # noqa: BLE001 - any failure to reach the engine is the same answer
        raise EngineError("docker", f"the Docker engine is not reachable ({type(error).__name__})", "start dockerd, or set DOCKER_HOST to a reachable engine", rule="docker.engine-unreachable") from None


# --- build ---------------------------------------------------------------------------------------

def run_build(context: Path, dockerfile: Path, tag: str, *, labels: dict[str, str], secrets: dict[str, Path],
              log: Callable[[str], None], registry_config: Path | None = None, build_args: dict[str, str] | None = None) -> None:
    """`docker build` with BuildKit, host networking (builds reach the index on 127.0.0.1), the
    labels, and secrets as BuildKit secrets. Each output line goes to the build log as it comes."""
    command = [*docker_cli(), "--progress=plain", "--network=host", "-f", str(dockerfile), "-t", tag]
    for key, value in sorted(labels.items()):
        command += ["--label", f"{key}={value}"]
    for secret_id, path in sorted(secrets.items()):
        command += ["--secret", f"id={secret_id},src={path}"]
    for key, value in sorted((build_args or {}).items()):
        command += ["--build-arg", f"{key}={value}"]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    if registry_config:
        env["DOCKER_CONFIG"] = str(registry_config)
    lines: list[str] = []
    with subprocess.Popen([*command, str(context)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, errors="replace") as process:
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            log(line)
    if process.returncode != 0:
        raise _failed_build("\n".join(lines))


def _failed_build(output: str) -> EngineError:
    from mlenv.diagnostics.diagnose import explain

    error = explain(output, "docker build", kind=EngineError)
    step = failing_step(output)
    if not step:
        return error
    return EngineError(f"docker build ({step})", error.problem, error.fix, rule=error.rule, evidence=error.evidence, output=error.output)


def failing_step(output: str) -> str | None:
    """`[2/3] RUN pip install …` of the step BuildKit reports as failed."""
    found = re.search(r"^------\n > \[(?:[\w-]+ )?(\d+/\d+)\] (.*?):\s*$", output, re.MULTILINE)
    if found:
        return f"step {found[1]}: {found[2]}"
    found = re.search(r"failed to solve: .*?\[(?:[\w-]+ )?(\d+/\d+)\] (.*?): ", output)
    return f"step {found[1]}: {found[2]}" if found else None


def verify(client, image: str, commands: tuple[str, ...], log: Callable[[str], None]) -> None:
    """Each command inside the built image, before anything is tagged; the first failure stops it all."""
    import docker

    for index, command in enumerate(commands):
        log(f"verify[{index}]: {command}")
        try:
            output = client.containers.run(image, ["/bin/sh", "-c", command], remove=True, network_mode="none", stdout=True, stderr=True)
            log(output.decode(errors="replace").rstrip())
        except docker.errors.ContainerError as error:
            text = (error.stderr or b"").decode(errors="replace").strip()
            raise BuildError(f"verify[{index}]", f"`{command}` failed in the built image (exit {error.exit_status})",
                             "fix the environment (or the command); nothing was tagged", output=text, rule="docker.verify-failed") from None


def work_dir() -> tempfile.TemporaryDirectory:
    from mlenv.cache import cache_root

    (cache_root() / "tmp").mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="mlenv-docker-", dir=cache_root() / "tmp")


