"""From a definition to what `docker build` needs: a build context, a Dockerfile and secrets.

Its own build context, its Dockerfile text (variables appended), or a Dockerfile generated from
base image + Docker steps + locked wheels. Secrets (index credentials) reach a build only as a
BuildKit secret: a pip.conf mounted at `RUN --mount=type=secret,id=mlenv-pip-conf,target=/etc/pip.conf`,
never a build arg or ENV.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from mlenv.digests import sha256_hex
from mlenv.diagnostics.errors import MlenvError

SECRET_ID = "mlenv-pip-conf"
INSTALLED_SCRIPT = "mlenv-installed.py"  # in the context, beside wheels/


class WheelGroup(NamedTuple):
    folder: str              # under the context's wheels/, named by the group's content
    pins: tuple[str, ...]    # name==version of each wheel in it


def render_dockerfile(image: str, steps: tuple[str, ...], interpreter: str | None, variables: dict[str, str], groups: list[WheelGroup]) -> str:
    """Base → system steps → the environment → variables last, so a pin or variable change reuses the
    engine's cache for the expensive steps before it. The locked wheels come in one RUN per layer
    group (heavy packages alone, the long tail together, as the daemonless builder plans them), each
    bind-mounting only its own folder of the context: a one-pin change rebuilds that group's layer
    and the ones after it, and no wheel ever lands in a layer. Each is installed by name from its
    folder (`--find-links`), not by file path, so pip records no `direct_url.json` (else `pip freeze`
    prints `name @ file:///tmp/…`), and `installed.py` then makes the metadata the daemonless
    builder's (INSTALLER `mlenv`, no REQUESTED)."""
    lines = [f"FROM {image}", *steps]
    if groups:
        lines.append(f"RUN {interpreter} -m venv /opt/env")
        for group in groups:
            lines.append(f"RUN --mount=type=bind,source=wheels/{group.folder},target=/tmp/mlenv-wheels "
                         f"--mount=type=bind,source={INSTALLED_SCRIPT},target=/tmp/mlenv-installed.py "
                         "/opt/env/bin/python -m pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check --no-compile "
                         f"--find-links /tmp/mlenv-wheels {' '.join(group.pins)} && /opt/env/bin/python /tmp/mlenv-installed.py")
        lines.append('ENV VIRTUAL_ENV=/opt/env PATH="/opt/env/bin:$PATH"')
    return "\n".join(lines) + "\n" + render_env(variables)


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


@dataclass
class Recipe:
    context: Path
    dockerfile: Path
    secrets: dict[str, Path]
    docker_config: Path | None
    base: object | None  # BaseImage when the final FROM could be resolved, for layer reuse
    base_store: object | None
    wheels: list
    wheel_files: dict            # the locked wheels' files by name (their dates give the image's time)
    python: object | None = None  # PythonFacts of the base when mlenv installs into it (or checks its pin)
    build_args: dict[str, str] | None = None  # values render_env cannot write in a Dockerfile line


def prepare(request, work: Path) -> Recipe:
    """The build context, Dockerfile and secrets for a `BuildRequest`'s definition: its own build
    context, its Dockerfile text (with variables appended), or a Dockerfile generated from image +
    steps + pip."""
    from mlenv.definition.reference import parse_reference
    from mlenv.oci.store import open_base_store

    spec, index, log = request.spec, request.index, request.log
    wheels: list = []
    files: dict = {}
    python = None
    if spec.build:  # the Dockerfile as it was read and hashed when the definition was loaded
        context, dockerfile, text = Path(spec.build.path), Path(spec.build.path) / spec.build.dockerfile_path, spec.build.dockerfile_text
        if spec.build.templates:  # an Azure ML asset's context: built as a copy with its templates filled in
            from mlenv.definition.curated_asset import write_rendered

            context = write_rendered(spec.build, work / "context")
            dockerfile = context / spec.build.dockerfile_path
    else:
        context, dockerfile = work / "context", work / "Dockerfile"
        context.mkdir()
        text = (spec.dockerfile + "\n" + render_env(spec.variables)) if spec.dockerfile else None
    base_name = spec.image if text is None else final_base(text)
    base, store, login = None, None, None
    if base_name:
        try:
            ref = parse_reference(base_name)
            login = request.base_credentials(ref)
            store = open_base_store(ref, login)
            from mlenv.oci.base_image import resolve_base

            base = resolve_base(ref, store)
        except MlenvError:
            if store:
                store.close()
            if text is None:
                raise  # our own FROM must exist; a Dockerfile's may name an image only the engine has
            base, store = None, None
    if text is None:
        try:
            text, wheels, files, python = _generated(request, base, store, context)
        except BaseException:
            store.close()
            raise
    if not spec.build:
        dockerfile.write_text(text, encoding="utf-8")
    log("Dockerfile:\n" + "\n".join(f"  {line}" for line in text.splitlines()))
    docker_config = registry_config(base.ref.host, login.username, login.password, work) if base and login and not base.ref.is_layout else None
    return Recipe(context=context, dockerfile=dockerfile, secrets=_index_secret(index, work), docker_config=docker_config,
                  base=base, base_store=store, wheels=wheels, wheel_files=files, python=python,
                  build_args=None if spec.build else env_build_args(spec.variables))


def render_env(variables: dict[str, str]) -> str:
    """ENV lines that give each value exactly: in double quotes with `\\`, `"` and `$` escaped (so Docker
    neither expands nor unescapes anything) and non-ASCII as UTF-8. A line break cannot be written
    in a Dockerfile line, so such a value comes in as a build arg (`env_build_args`), which Docker
    substitutes once and never re-reads."""
    return "".join(_env_line(key, value) for key, value in sorted(variables.items()))


def env_build_args(variables: dict[str, str]) -> dict[str, str]:
    """The build args `render_env` refers to: the values holding a line break."""
    return {_ARG_PREFIX + key: value for key, value in variables.items() if _needs_arg(value)}


_ARG_PREFIX = "MLENV_VALUE_"


def _needs_arg(value: str) -> bool:
    return "\n" in value or "\r" in value


def _env_line(key: str, value: str) -> str:
    if _needs_arg(value):
        return f'ARG {_ARG_PREFIX}{key}\nENV {key}="${{{_ARG_PREFIX}{key}}}"\n'
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'ENV {key}="{escaped}"\n'


def _generated(request, base, store, context: Path) -> tuple[str, list, dict, object | None]:
    """Our Dockerfile for base + steps + pip, the wheels it installs (and their files), and the base's Python facts."""
    from mlenv.oci.base_image import python_facts
    from mlenv.resolve.target import check_python

    spec = request.spec
    conda = bool(spec.conda and spec.conda.packages)  # the conda environment (and its pip) goes on top, daemonless
    install = spec.pip.installs_anything and not spec.python.user_managed_dependencies and not conda
    python = python_facts(base, store) if install or (spec.python.version and not conda) else None
    wheels, files = [], {}
    if python:
        check_python(spec.python.version, python)
    if install:
        from mlenv.builders.venv import venv_requirements
        from mlenv.resolve.pip_lock import resolve
        from mlenv.resolve.wheel_download import fetch_wheels

        wheels = resolve(venv_requirements(spec), python, request.index)  # the venv's pip locked, as the daemonless builder does
        request.log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
        files = fetch_wheels(wheels, request.index)
        groups = _wheel_groups(wheels, files, context)
    else:
        groups = []
    text = render_dockerfile(spec.image, spec.steps, python.interpreter if python else None, spec.variables, groups)
    return text, wheels, files, python


def _wheel_groups(wheels: list, files: dict, context: Path) -> list[WheelGroup]:
    """One context folder per layer group, named by its content, so a group's cache key changes
    only when its own wheels do; and the metadata script every group's RUN runs."""

    from mlenv.builders.pip_layers import plan_layers

    shutil.copyfile(Path(__file__).with_name("installed.py"), context / INSTALLED_SCRIPT)
    groups = []
    for group in plan_layers(wheels):
        name = sha256_hex("".join(w.sha256 for w in group).encode())[:16]
        (context / "wheels" / name).mkdir(parents=True)
        for wheel in group:
            shutil.copyfile(files[wheel.name], context / "wheels" / name / wheel.filename)
        groups.append(WheelGroup(name, tuple(w.pin for w in group)))
    return groups


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
