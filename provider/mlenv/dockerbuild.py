"""The Docker builder: build contexts, Dockerfile text, and base image + pip + Docker steps, built by
a real Docker engine, then published by the same path as the daemonless builder (our registry
client: HEAD → mount → upload, manifest by digest, tag last) with the same annotations and outputs.

The build itself goes through the docker CLI with BuildKit, not the Engine API: the API's build
endpoint (and so the docker SDK) is the legacy builder, which has no build secrets
(`RUN --mount=type=secret`) and no bind mounts; BuildKit over the API needs its session protocol,
which the SDK lacks. Everything else (inspect, save, run for verify) uses the docker SDK.

Secrets (index credentials) reach a build only as a BuildKit secret: a pip.conf mounted at
`RUN --mount=type=secret,id=mlenv-pip-conf,target=/etc/pip.conf`, never a build arg or ENV.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import BuildError

SECRET_ID = "mlenv-pip-conf"
BUILD_REPOSITORY = "mlenv-build"
_STEP = re.compile(r"^#\d+ \[(?:[\w-]+ )?(\d+)/(\d+)\] (.*)$")


@dataclass(frozen=True)
class SavedLayer:
    diff_id: str
    tar: Path  # the uncompressed layer tar, extracted from `docker save`
    created_by: str


@dataclass(frozen=True)
class SavedImage:
    config: dict
    layers: tuple[SavedLayer, ...]


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
    raise BuildError("docker", "no docker CLI with BuildKit found (docker buildx, or docker < 23)", "install docker.io (Debian) or docker-buildx, or set MLENV_DOCKER to a docker CLI with BuildKit", rule="docker.engine-unreachable")


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
    """A docker SDK client, or a BuildError saying how to reach an engine."""
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except Exception as error:  # noqa: BLE001 - any failure to reach the engine is the same answer
        raise BuildError("docker", f"the Docker engine is not reachable ({type(error).__name__})", "start dockerd, or set DOCKER_HOST to a reachable engine", rule="docker.engine-unreachable") from None


# --- recipe -------------------------------------------------------------------------------------

def render_dockerfile(image: str, steps: tuple[str, ...], interpreter: str | None, variables: dict[str, str], groups: list[str]) -> str:
    """Base → system steps → the environment → variables last, so a pin or variable change reuses the
    engine's cache for the expensive steps before it. The locked wheels come in one RUN per layer
    group (heavy packages alone, the long tail together, as the daemonless builder plans them), each
    bind-mounting only its own folder of the context: a one-pin change rebuilds that group's layer
    and the ones after it, and no wheel ever lands in a layer."""
    lines = [f"FROM {image}", *steps]
    if groups:
        lines.append(f"RUN {interpreter} -m venv /opt/env")
        for group in groups:
            lines.append(f"RUN --mount=type=bind,source=wheels/{group},target=/tmp/mlenv-wheels /opt/env/bin/python -m pip install "
                         "--no-index --no-deps --no-cache-dir --disable-pip-version-check --no-compile /tmp/mlenv-wheels/*.whl")
        lines.append('ENV VIRTUAL_ENV=/opt/env PATH="/opt/env/bin:$PATH"')
    for key, value in sorted(variables.items()):
        lines.append(f"ENV {key}={json.dumps(value)}")
    return "\n".join(lines) + "\n"


def final_base(dockerfile: str) -> str | None:
    """The image the last stage starts FROM (for reusing its layers), None when it is a stage name,
    uses an ARG, or is scratch."""
    stages, base = set(), None
    for line in dockerfile.splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        words = [w for w in words[1:] if not w.startswith("--")]
        if not words:
            continue
        base = None if words[0] in stages or "$" in words[0] or words[0] == "scratch" else words[0]
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return base


# --- build ---------------------------------------------------------------------------------------

def run_build(context: Path, dockerfile: Path, tag: str, labels: dict[str, str], secrets: dict[str, Path],
              log: Callable[[str], None], registry_config: Path | None = None) -> None:
    """`docker build` with BuildKit, host networking (builds reach the index on 127.0.0.1), the
    labels, and secrets as BuildKit secrets. Each output line goes to the build log as it comes."""
    command = [*docker_cli(), "--progress=plain", "--network=host", "-f", str(dockerfile), "-t", tag]
    for key, value in sorted(labels.items()):
        command += ["--label", f"{key}={value}"]
    for secret_id, path in sorted(secrets.items()):
        command += ["--secret", f"id={secret_id},src={path}"]
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


def _failed_build(output: str) -> BuildError:
    from .diagnose import explain

    error = explain(output, "docker build")
    step = failing_step(output)
    if not step:
        return error
    return BuildError(f"docker build ({step})", error.problem, error.fix, rule=error.rule, evidence=error.evidence, output=error.output)


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


def save(client, image: str, work: Path, skip: frozenset[str] = frozenset()) -> SavedImage:
    """The image as `docker save` streams it: config and uncompressed layer tars, in order. Layers
    whose diff_id is in `skip` (the base's, already in the registry) are hashed and dropped, not kept."""
    import hashlib

    out = Path(tempfile.mkdtemp(prefix="saved-", dir=work))
    documents: dict[str, bytes] = {}
    kept: dict[str, Path] = {}
    with tarfile.open(fileobj=_Stream(client.images.get(image).save(named=False)), mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            source = tar.extractfile(member)
            if member.size < 1 << 20 and not member.name.endswith("layer.tar"):
                documents[member.name] = source.read()  # manifest, config, small layers: kept in memory
                continue
            target, digest = out / f"{len(kept)}.tar", hashlib.sha256()
            with target.open("wb") as handle:
                for chunk in iter(lambda: source.read(1024 * 1024), b""):
                    digest.update(chunk)
                    handle.write(chunk)
            kept[member.name] = target
            if f"sha256:{digest.hexdigest()}" in skip:
                target.unlink()
    for name, data in documents.items():  # a small layer (docker 25+ saves an OCI layout of blobs/)
        if name not in ("manifest.json", "index.json", "oci-layout", "repositories"):
            kept.setdefault(name, out / f"small-{len(kept)}.tar").write_bytes(data)
    (entry,) = json.loads(documents["manifest.json"])
    config = json.loads(documents[entry["Config"]])
    diff_ids = config["rootfs"]["diff_ids"]
    history = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    history = history[-len(diff_ids):] if len(history) >= len(diff_ids) else [""] * len(diff_ids)
    layers = tuple(SavedLayer(d, kept[path], created) for d, path, created in zip(diff_ids, entry["Layers"], history))
    return SavedImage(config, layers)


class _Stream(io.RawIOBase):
    """A file over the chunks the engine streams, so tarfile reads the archive without a copy on disk."""

    def __init__(self, chunks):
        self.chunks, self.pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            self.pending = next(self.chunks, None)
            if self.pending is None:
                self.pending = b""
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def registry_config(address: str, username: str, password: str, work: Path) -> Path:
    """A throwaway DOCKER_CONFIG holding one registry login, so the engine can pull a private base;
    it never enters the build context or the image."""
    import base64

    folder = work / "docker-config"
    folder.mkdir()
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {address: {"auth": auth}}}))
    os.chmod(folder / "config.json", 0o600)
    return folder


def work_dir() -> tempfile.TemporaryDirectory:
    from .cache import cache_root

    (cache_root() / "tmp").mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="mlenv-docker-", dir=cache_root() / "tmp")


# --- from a definition to a build, and back to our image parts -----------------------------------

@dataclass
class Recipe:
    context: Path
    dockerfile: Path
    secrets: dict[str, Path]
    docker_config: Path | None
    base: object | None  # BaseImage when the final FROM could be resolved, for layer reuse
    base_store: object | None
    wheels: list


def prepare(spec, work: Path, credentials_for, index, check_python, log) -> Recipe:
    """The build context, Dockerfile and secrets for a definition: its own build context, its
    Dockerfile text (with variables appended), or a Dockerfile generated from image + steps + pip."""
    from .reference import parse_reference
    from .stores import open_store

    wheels: list = []
    if spec.build:
        from .context import read_dockerfile

        context, dockerfile, text = Path(spec.build.path), Path(spec.build.path) / spec.build.dockerfile_path, read_dockerfile(spec.build)
    else:
        context = work / "context"
        context.mkdir()
        text = (spec.dockerfile + "\n" + render_env(spec.variables)) if spec.dockerfile else None
    base_name = spec.image if text is None else final_base(text)
    base, store, login = None, None, None
    if base_name:
        try:
            ref = parse_reference(base_name)
            login = credentials_for(ref)
            store = open_store(ref, login)
            from .base import resolve_base

            base = resolve_base(ref, store)
        except BuildError:
            if text is None:
                raise  # our own FROM must exist; a Dockerfile's may live where only the engine reaches
            base = None
    if text is None:
        text, wheels = _generated(spec, base, store, context, index, check_python, log)
    dockerfile = dockerfile if spec.build else work / "Dockerfile"
    if not spec.build:
        dockerfile.write_text(text)
    log("Dockerfile:\n" + "\n".join(f"  {line}" for line in text.splitlines()))
    docker_config = registry_config(base.ref.host, login.username, login.password, work) if base and login and not base.ref.is_layout else None
    return Recipe(context, dockerfile, _index_secret(index, work), docker_config, base, store, wheels)


def render_env(variables: dict[str, str]) -> str:
    return "".join(f"ENV {key}={json.dumps(value)}\n" for key, value in sorted(variables.items()))


def _generated(spec, base, store, context: Path, index, check_python, log) -> tuple[str, list]:
    from .base import python_facts

    install = bool(spec.pip.requirements or spec.pip.wheels) and not spec.python.user_managed_dependencies
    python = python_facts(base, store) if install or spec.python.version else None
    wheels = []
    if python:
        check_python(spec, python)
    if install:
        from .lock import resolve
        from .wheels import fetch_wheels

        wheels = resolve(spec.pip, python, index)
        log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
        files = fetch_wheels(wheels, index)
        groups = _wheel_groups(wheels, files, context / "wheels")
    else:
        groups = []
    return render_dockerfile(spec.image, spec.steps, python.interpreter if python else None, spec.variables, groups), wheels


def _wheel_groups(wheels: list, files: dict, folder: Path) -> list[str]:
    """One context folder per layer group, named by its content, so a group's cache key changes
    only when its own wheels do."""
    import hashlib

    from .layers import plan_layers

    names = []
    for group in plan_layers(wheels):
        name = hashlib.sha256("".join(w.sha256 for w in group).encode()).hexdigest()[:16]
        (folder / name).mkdir(parents=True)
        for wheel in group:
            shutil.copyfile(files[wheel.name], folder / name / wheel.filename)
        names.append(name)
    return names


def _index_secret(index, work: Path) -> dict[str, Path]:
    """The index settings (credentials included) as a pip.conf, offered to every build as the
    BuildKit secret `mlenv-pip-conf`: `RUN --mount=type=secret,id=mlenv-pip-conf,target=/etc/pip.conf pip install …`."""
    if not (index and (index.index_url or index.extra_index_urls)):
        return {}
    lines = ["[global]"]
    if index.index_url:
        lines.append(f"index-url = {index.index_url}")
    if index.extra_index_urls:
        lines.append("extra-index-url = " + " ".join(index.extra_index_urls))
    path = work / "pip.conf"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return {SECRET_ID: path}


def complete(saved: SavedImage) -> bool:
    """Whether every layer was kept (a dropped base layer is needed when the image turned out not to
    start with the base's layers)."""
    return all(layer.tar.exists() for layer in saved.layers)


def starts_with_base(saved: SavedImage, base) -> bool:
    base_ids = (base.config.get("rootfs") or {}).get("diff_ids") or [] if base else []
    return bool(base_ids) and [layer.diff_id for layer in saved.layers[:len(base_ids)]] == base_ids


def image_parts(saved: SavedImage, base, wheels: list, work: Path):
    """Our layers (gzip, deterministic) for what the build added on top of the base, the engine's
    config as it is, and a lock hash over the config and the wheels. Returns the base too, or None
    when the image does not start with the base's layers (then every layer is ours)."""
    import hashlib

    from .image import to_json

    reused = starts_with_base(saved, base)
    ours = saved.layers[len(base.config["rootfs"]["diff_ids"]):] if reused else saved.layers
    layers = [_compressed(layer, work / f"layer-{index}.tar.gz") for index, layer in enumerate(ours)]
    config = to_json(saved.config)
    payload = {"config": hashlib.sha256(config).hexdigest(), "wheels": [[w.name, w.version, w.sha256] for w in wheels]}
    return layers, config, hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(), base if reused else None


def _compressed(layer: SavedLayer, target: Path):
    import gzip
    import hashlib

    from .layers import Layer

    digest = hashlib.sha256()
    with target.open("wb") as raw:
        class _Hashing:
            def write(self, data):
                digest.update(data)
                return raw.write(data)

            def flush(self):
                raw.flush()

        with gzip.GzipFile(filename="", mode="wb", fileobj=_Hashing(), mtime=0, compresslevel=6) as gz, layer.tar.open("rb") as source:
            shutil.copyfileobj(source, gz, 1024 * 1024)
    return Layer(target, "sha256:" + digest.hexdigest(), layer.diff_id, target.stat().st_size, layer.created_by)


def load_image(client, config: bytes, layer_paths: list[Path], tag: str) -> str:
    """Load an image made of files on disk into the engine (a docker-archive), to run verify."""
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            names = []
            for index, path in enumerate(layer_paths):
                names.append(f"{index}/layer.tar")
                tar.add(path, arcname=names[-1])
            for name, data in (("config.json", config), ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        archive.seek(0)
        client.api.load_image(archive)
    return tag
