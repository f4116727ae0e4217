"""Parse every way of defining an environment into one typed model, `EnvironmentSpec`.

One mapping schema serves our environment YAML, Azure ML v2 environment YAML (`conda_file`, `build`,
`os_type`, `inference_config`), Azure ML v1 sections (`python`, `docker`, `spark`,
`environment_variables`, camelCase JSON keys too), Python keyword arguments and the provider's
inputs. Files in other shapes (a bare conda file or requirements.txt, an MLflow model, an Azure ML
asset folder) are told apart in `sources` and turned into this schema there. Structural mistakes
raise one `SpecError` naming the field, the value and the fix; rules over the whole definition
(reserved names, conflicting sources, mutable tags…) live in `rules`. Everything downstream only
ever sees `EnvironmentSpec`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlenv.definition import confine, fields
from mlenv.definition.bounds import check_tree
from mlenv.definition.azureml_v1 import SAVED_SOURCE, is_saved, settings_outside_the_image, with_saved_files
from mlenv.diagnostics.errors import SpecError, unknown_field
from mlenv.definition.reference import has_registry_host
from mlenv.definition.venv_pip import pip_setting
from mlenv.definition.model import METADATA_FIELDS, EnvironmentSpec, PythonSection, RegistryLogin
from mlenv.definition.requirements import PipSpec, merge, parse_file, parse_lines

if TYPE_CHECKING:  # conda files and build contexts are parsed by modules imported when a definition has one
    from mlenv.definition.build_context import BuildContext
    from mlenv.definition.conda_file import CondaSpec

TOP_FIELDS = (
    *METADATA_FIELDS, "image", "dockerfile", "build", "conda", "conda_file", "pip", "pip_constraints", "python",
    "docker", "spark", "variables", "environment_variables", "platform", "curated", "builder", "compression", "verify", "$schema",
)
PYTHON_FIELDS = ("version", "user_managed_dependencies", "interpreter_path", "pip", "conda_dependencies", "conda_dependencies_file")
DOCKER_FIELDS = ("base_image", "base_dockerfile", "build_context", "dockerfile_path", "base_image_registry", "platform", "steps", "enabled", "shm_size", "arguments")
BUILD_FIELDS = ("path", "dockerfile_path", "template_files")
REGISTRY_FIELDS = ("address", "username", "password")
SPARK_FIELDS = ("repositories", "packages", "precache_packages")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_IMAGE_REF = re.compile(r"^(oci:.+|[a-z0-9][a-z0-9._:/@-]*)\Z", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def load_file(path: str | Path, *, image: str | None = None) -> EnvironmentSpec:
    """Any definition file or folder, told apart by content (`sources`): an environment YAML (ours or
    Azure ML's), an Azure ML v1 JSON file or saved folder, a bare conda file or requirements.txt, an
    MLflow model or python_env.yaml, an Azure ML asset folder. `image`: the base image of a
    definition that names none (--image, $MLENV_BASE_IMAGE)."""
    from mlenv.definition.sources import load_source

    return with_base_image(load_source(Path(path)), image)


def from_file_mapping(path: Path, data: dict) -> EnvironmentSpec:
    """A file in the mapping schema (ours, Azure ML v2, v1 JSON with the files saved beside it)."""
    spec = from_mapping(with_saved_files(path, data), base_dir=path.parent, from_file=True)
    return replace(spec, source=SAVED_SOURCE) if is_saved(path, data) else spec


def with_base_image(spec: EnvironmentSpec, image: str | None) -> EnvironmentSpec:
    """`image` as the base of a definition with no Docker definition of its own; others keep theirs."""
    if not image or spec.image or spec.dockerfile or spec.build or spec.curated:
        return spec
    image = _image({"image": image}, {})
    if spec.base_registry.address and not has_registry_host(image):
        image = f"{spec.base_registry.address.rstrip('/')}/{image}"
    return replace(spec, image=image)


def from_mapping(data: Any, base_dir: str | Path | None = None, from_file: bool = False) -> EnvironmentSpec:
    """Validate a mapping (parsed YAML, keyword arguments or provider inputs) into an `EnvironmentSpec`."""
    if not isinstance(data, dict):
        raise SpecError("definition", "must be a mapping of fields", f"write fields such as {', '.join(TOP_FIELDS[6:12])}", data)
    check_tree(data)
    base_dir = Path(base_dir or ".")
    if not from_file:  # keyword arguments and provider inputs: the program's own code, trusted as it is
        return _from_mapping(data, base_dir, from_file)
    with confine.definition_root(base_dir):  # a file: only what lies under its folder
        return _from_mapping(data, base_dir, from_file)


def _from_mapping(data: dict, base_dir: Path, from_file: bool) -> EnvironmentSpec:
    if data.get("curated") is not None:  # the curated version's own definition, with the metadata given here
        from mlenv.definition.curated import curated_spec

        return curated_spec(data)
    data, outside = settings_outside_the_image(_sectioned(data))
    _reject_unknown("", data, TOP_FIELDS)
    python, docker, spark = (_section(data, key, fields) for key, fields in (("python", PYTHON_FIELDS), ("docker", DOCKER_FIELDS), ("spark", SPARK_FIELDS)))
    conda = _conda(data, python, base_dir)
    pip = _pip(data, conda, base_dir)
    spec = EnvironmentSpec(
        image=_image(data, docker),
        dockerfile=_dockerfile(data, docker, base_dir),
        build=_build_context(data, docker, base_dir),
        steps=fields.strings("docker.steps", docker.get("steps")),
        platform=fields.platform(data.get("platform", docker.get("platform"))),
        python=_python(python, conda),
        conda=conda,
        pip=pip,
        spark=fields.spark(spark),
        variables=_variables(data, conda),
        base_registry=_registry(docker.get("base_image_registry"), from_file),
        builder=fields.builder(data.get("builder")),
        compression=fields.compression(data.get("compression")),
        verify=fields.strings("verify", data.get("verify")),
        **fields.metadata(data),
        from_file=from_file,
        notes=(*(conda.warnings if conda else ()), *pip.warnings, *outside),
    )
    if spec.build and spec.build.templates:
        spec = replace(spec, notes=(*spec.notes, *spec.build.templates.notes))
    if spec.base_registry.address and spec.image and not has_registry_host(spec.image):
        spec = replace(spec, image=f"{spec.base_registry.address.rstrip('/')}/{spec.image}")
    return spec


# --- shape -----------------------------------------------------------------------------------

def _sectioned(data: dict) -> dict:
    """Azure ML v1 JSON spells keys in camelCase (`userManagedDependencies`): accept both spellings
    for the schema's own keys; never touch user keys (variables, tags)."""
    out = {}
    for key, value in data.items():
        name = _snake(key)
        if name in ("python", "docker", "spark", "build", "base_image_registry") and isinstance(value, dict):
            value = {_snake(k): (_sectioned(v) if _snake(k) == "base_image_registry" and isinstance(v, dict) else v) for k, v in value.items()}
        out[name] = value
    return out


def _snake(key: Any) -> Any:
    return _CAMEL.sub(r"_\1", key).lower() if isinstance(key, str) and key != "$schema" else key


def _reject_unknown(prefix: str, data: dict, known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise unknown_field(f"{prefix}{key}", key, known)


def _section(data: dict, key: str, known: tuple[str, ...]) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(key, "must be a mapping", f"write {key}: with fields such as {', '.join(known[:3])}", value)
    _reject_unknown(f"{key}.", value, known)
    return value








# --- docker -----------------------------------------------------------------------------------

def _image(data: dict, docker: dict) -> str | None:
    value = fields.one_of("image", data.get("image"), docker.get("base_image"))
    if value is None:
        return None
    if not isinstance(value, str) or not _IMAGE_REF.match(value.strip()):
        raise SpecError("image", "not an image reference", "use host/repository:tag, host/repository@sha256:..., or oci:PATH[:tag]", value)
    return value.strip()


def _dockerfile(data: dict, docker: dict, base_dir: Path) -> str | None:
    value = fields.one_of("dockerfile", data.get("dockerfile"), docker.get("base_dockerfile"))
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError("dockerfile", "must be the Dockerfile text (or the path of a Dockerfile)", "write dockerfile: | FROM ...", value)
    if "\n" not in value.strip() and not value.lstrip().upper().startswith(("FROM", "ARG")):
        path = base_dir / value.strip()
        try:
            return confine.read_text(path, "dockerfile", value)
        except (OSError, UnicodeDecodeError):
            raise SpecError("dockerfile", "is neither Dockerfile text nor a readable file", "give the Dockerfile text, or a path relative to the definition file", value) from None
    return value


def _build_context(data: dict, docker: dict, base_dir: Path) -> BuildContext | None:
    build = data.get("build")
    if build is not None and not isinstance(build, dict):
        raise SpecError("build", "must be a mapping with path and dockerfile_path", "write build: {path: ./context, dockerfile_path: Dockerfile}", build)
    build = build or {}
    _reject_unknown("build.", build, BUILD_FIELDS)
    context = docker.get("build_context")
    if isinstance(context, dict):
        _reject_unknown("docker.build_context.", context, BUILD_FIELDS)
        context, docker = context.get("path"), {**docker, "dockerfile_path": context.get("dockerfile_path") or docker.get("dockerfile_path")}
    path = fields.one_of("build.path", build.get("path"), context)
    if path is None:
        if build.get("dockerfile_path") or docker.get("dockerfile_path"):
            raise SpecError("build.dockerfile_path", "is set without a build context", "set build.path to the context directory, or remove dockerfile_path")
        return None
    if not isinstance(path, str):
        raise SpecError("build.path", "must be the path of a directory", "write build: {path: ./context}", path)
    dockerfile = fields.one_of("build.dockerfile_path", build.get("dockerfile_path"), docker.get("dockerfile_path")) or "Dockerfile"
    if not isinstance(dockerfile, str):
        raise SpecError("build.dockerfile_path", "must be a path inside the build context", "write dockerfile_path: Dockerfile", dockerfile)
    from mlenv.definition.build_context import hash_context

    context = hash_context(base_dir / path, dockerfile)
    if build.get("template_files") is None:
        return context
    from mlenv.definition.curated_asset import render_templates

    return render_templates(context, fields.strings("build.template_files", build["template_files"]))




def _registry(value: Any, from_file: bool) -> RegistryLogin:
    if value is None:
        return RegistryLogin()
    if not isinstance(value, dict):
        raise SpecError("docker.base_image_registry", "must be a mapping", "write base_image_registry: {address: registry.example, username: builder}", value)
    _reject_unknown("docker.base_image_registry.", value, REGISTRY_FIELDS)
    if from_file and value.get("password"):
        from mlenv.definition.rules import BASE_LOGIN_FIX

        raise SpecError("docker.base_image_registry.password", "credentials written in plain text in a definition file",
                        f"remove it from the file and {BASE_LOGIN_FIX}")
    address, username, password = (value.get(k) for k in REGISTRY_FIELDS)
    for key, item in (("address", address), ("username", username)):
        if item is not None and not isinstance(item, str):
            raise SpecError(f"docker.base_image_registry.{key}", "must be a string", "quote the value", item)
    return RegistryLogin(address or None, username or None, password or None)


# --- packages ---------------------------------------------------------------------------------

def _conda(data: dict, python: dict, base_dir: Path) -> CondaSpec | None:
    sources = {k: v for k, v in (("conda", data.get("conda")), ("conda_file", data.get("conda_file")),
                                 ("python.conda_dependencies", python.get("conda_dependencies")),
                                 ("python.conda_dependencies_file", python.get("conda_dependencies_file"))) if v is not None}
    if len(sources) > 1:
        raise SpecError(" and ".join(sources), "more than one conda specification", "keep one conda file per environment")
    if not sources:
        return None
    from mlenv.definition.conda_file import CondaSpec, parse_conda_file, parse_conda_mapping

    where, value = next(iter(sources.items()))
    if isinstance(value, CondaSpec):  # already parsed from a file's text (a bare conda file, an asset's rendered one)
        return value
    if isinstance(value, str):
        return parse_conda_file(base_dir / value, where=where)
    return parse_conda_mapping(value, where=where)


def _pip(data: dict, conda: CondaSpec | None, base_dir: Path) -> PipSpec:
    value = data.get("pip")
    if isinstance(value, PipSpec):  # already parsed with the origin its file gives it (an MLflow python_env.yaml)
        specs = [value]
    elif isinstance(value, str):
        specs = [parse_file(base_dir / value, origin="pip")]
    elif value is None:
        specs = []
    elif isinstance(value, (list, tuple)):
        specs = [parse_lines(list(value), base_dir, origin="pip")]
    else:
        raise SpecError("pip", "must be a list of requirements or the path of a requirements file", "write pip: [numpy==1.26.4, requests] or pip: requirements.txt", value)
    if conda and conda.pip_lines:
        specs.append(parse_lines(list(conda.pip_lines), base_dir, origin="conda pip"))
    constraints = data.get("pip_constraints")
    if constraints is not None:
        if not isinstance(constraints, (list, tuple)):
            raise SpecError("pip_constraints", "must be a list of requirements", "write pip_constraints: [urllib3<2]", constraints)
        found = parse_lines(list(constraints), base_dir, origin="pip_constraints")
        specs.append(PipSpec(constraints=found.requirements))
    return merge(*specs, origin="pip") if specs else PipSpec()


def _python(python: dict, conda: CondaSpec | None) -> PythonSection:
    version = python.get("version")
    if version is not None and not isinstance(version, str):
        if isinstance(version, float):
            raise SpecError("python.version", "must be a quoted string (YAML reads 3.10 as the number 3.1)", 'write version: "3.11"', version)
        raise SpecError("python.version", "must be a string such as \"3.11\"", 'write version: "3.11"', version)
    if version is not None and not re.fullmatch(r"3\.\d+(\.\d+)?", version.strip()):
        raise SpecError("python.version", "must be a major.minor Python version", 'write version: "3.11"', version)
    managed = python.get("user_managed_dependencies", False)
    if not isinstance(managed, bool):
        raise SpecError("python.user_managed_dependencies", "must be true or false", "write user_managed_dependencies: true", managed)
    interpreter = python.get("interpreter_path")
    if interpreter is not None and (not isinstance(interpreter, str) or not interpreter.startswith("/")):
        raise SpecError("python.interpreter_path", "must be an absolute path inside the image", "write interpreter_path: /usr/bin/python3", interpreter)
    return PythonSection(version.strip() if version else _conda_python(conda), managed, interpreter, pip_setting(python.get("pip"), conda))


def _conda_python(conda: CondaSpec | None) -> str | None:
    """The one exact Python a conda file pins (`python=3.11` → "3.11"), else None (validate says why)."""
    if not conda:
        return None
    from mlenv.definition.conda_file import exact_python

    pinned = {exact_python(s) for s in conda.python_specs}
    return pinned.pop() if len(pinned) == 1 else None




def _variables(data: dict, conda: CondaSpec | None) -> dict[str, str]:
    value = fields.one_of("variables", data.get("variables"), data.get("environment_variables"))
    merged = dict(conda.variables) if conda else {}
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise SpecError("variables", "must be a mapping of NAME: value", "write variables: {OMP_NUM_THREADS: \"1\"}", value)
    for key, item in {**merged, **value}.items():
        if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
            raise SpecError(f"variables.{key}", "not a valid environment variable name", "use letters, digits and _ , not starting with a digit", key)
        if key in ("PATH", "VIRTUAL_ENV"):
            raise SpecError(f"variables.{key}", "is set by the builder (the environment's venv comes first on PATH)", "remove it; put extra directories in another variable")
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise SpecError(f"variables.{key}", "values must be strings or numbers", "quote the value", item)
        merged[key] = str(item)
    return merged









