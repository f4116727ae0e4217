"""MLflow's environment files as definitions: a model folder (`MLmodel` with `conda.yaml`,
`python_env.yaml` and `requirements.txt` beside it, as `mlflow.<flavor>.save_model` writes them) and
a `python_env.yaml` alone, or in a folder without MLmodel (as an MLflow project keeps it).

The folder's environment is the one MLflow itself would recreate: the python_function flavor's `env`
names the files (`virtualenv` first, as MLflow 2's default environment manager does, then `conda`),
and a folder with only `requirements.txt` runs on the flavor's `python_version`. A python_env.yaml
means: that Python, then `build_dependencies` and `dependencies` installed with pip; `pip` itself
is dropped there (the builder installs the packages, and the venv gets the newest pip). Python versions
are read as written (`python: 3.10` is the text "3.10", not YAML's number 3.1). The base image comes
from --image / $MLENV_BASE_IMAGE (in Pulumi, `image=`): MLflow names none.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from mlenv.definition.bounds import safe_load

from mlenv.definition.model import EnvironmentSpec
from mlenv.diagnostics.errors import SpecError

MODEL_FILE = "MLmodel"
PYTHON_ENV_FIELDS = ("python", "build_dependencies", "dependencies")
PYTHON_ENV_FILE = "python_env.yaml"
DEFAULT_FILES = {"virtualenv": PYTHON_ENV_FILE, "conda": "conda.yaml"}
REQUIREMENTS = "requirements.txt"
MODEL_SOURCE = "an MLflow model"
PYTHON_ENV_SOURCE = "an MLflow python_env.yaml"


def is_python_env(data: dict) -> bool:
    """`python:` as a version (ours is a mapping), and nothing but python_env.yaml's own keys."""
    return "python" in data and not isinstance(data["python"], dict) and set(data) <= set(PYTHON_ENV_FIELDS)


def python_env_file(path: Path, data: dict) -> EnvironmentSpec:
    from mlenv.definition.sources import read_text

    return replace(_python_env(path, data, read_text(path, "file")), source=PYTHON_ENV_SOURCE)


def load_model(folder: Path) -> EnvironmentSpec:
    """The environment of an MLflow model folder, from the files its MLmodel names."""
    from mlenv.definition.bare_files import conda_env_file
    from mlenv.definition.load import from_mapping
    from mlenv.definition.sources import read_text

    where = f"{MODEL_FILE} ({folder.name or folder})"
    model_text = read_text(folder / MODEL_FILE, MODEL_FILE)
    model = _mapping(model_text, where)
    flavor = _python_function(model, where)
    files = _env_files(flavor.get("env"), where)
    python_env, conda = folder / files["virtualenv"], folder / files["conda"]
    if python_env.is_file():
        text = read_text(python_env, "file")
        spec = _python_env(python_env, _mapping(text, f"python_env ({python_env.name})"), text)
    elif conda.is_file():
        spec = conda_env_file(conda, _mapping(read_text(conda, "file"), f"conda_file ({conda.name})"))
    elif (folder / REQUIREMENTS).is_file():
        version = _raw_value(model_text, "flavors", "python_function", "python_version")
        spec = from_mapping({"python": {"version": version} if version else None, "pip": REQUIREMENTS}, base_dir=folder, from_file=True)
    else:
        raise SpecError(where, f"names no environment file that exists ({files['virtualenv']}, {files['conda']} or {REQUIREMENTS})",
                        "save the model with its environment (mlflow.<flavor>.save_model writes all three), or pass the environment file itself")
    return replace(spec, source=MODEL_SOURCE)


# --- python_env.yaml ------------------------------------------------------------------------------

def _python_env(path: Path, data: dict, text: str) -> EnvironmentSpec:
    from mlenv.definition.load import from_mapping
    from mlenv.definition.requirements import merge, parse_lines

    where = f"python_env ({path.name})"
    for key in data:
        if key not in PYTHON_ENV_FIELDS:
            from mlenv.diagnostics.errors import unknown_field

            raise unknown_field(f"{where}.{key}", key, PYTHON_ENV_FIELDS)
    version = _raw_value(text, "python")
    if not version:
        raise SpecError(f"{where}.python", "must be the Python version", "write python: 3.11.9 (MLflow writes the version it ran on)", data.get("python"))
    build = [line for line in _lines(f"{where}.build_dependencies", data.get("build_dependencies")) if not _is_pip(line)]
    pip = merge(parse_lines(build, path.parent, origin=f"{where}.build_dependencies"),
                parse_lines(_lines(f"{where}.dependencies", data.get("dependencies")), path.parent, origin=f"{where}.dependencies"),
                origin=where)
    return from_mapping({"python": {"version": version}, "pip": pip}, base_dir=path.parent, from_file=True)


def _lines(where: str, value: object) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(where, "must be a list of requirement lines", "write - name==version lines (MLflow writes - -r requirements.txt)", value)
    return value


def _is_pip(line: object) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return isinstance(line, str) and Requirement(line).name.lower() == "pip"
    except InvalidRequirement:
        return False


# --- MLmodel --------------------------------------------------------------------------------------

def _python_function(model: dict, where: str) -> dict:
    flavors = model.get("flavors")
    if not isinstance(flavors, dict):
        raise SpecError(f"{where}.flavors", "must be a mapping of flavors", "save the model with MLflow, which writes flavors: {python_function: ...}", flavors)
    flavor = flavors.get("python_function") or {}
    if not isinstance(flavor, dict):
        raise SpecError(f"{where}.flavors.python_function", "must be a mapping", "save the model with MLflow again", flavor)
    return flavor


def _env_files(env: object, where: str) -> dict[str, str]:
    """MLflow 1 wrote `env: conda.yaml`; MLflow 2 writes `env: {conda: conda.yaml, virtualenv: python_env.yaml}`."""
    if env is None:
        return dict(DEFAULT_FILES)
    if isinstance(env, str):
        return {**DEFAULT_FILES, "conda": env}
    if isinstance(env, dict) and all(isinstance(v, str) for v in env.values()):
        return {**DEFAULT_FILES, **{k: v for k, v in env.items() if k in DEFAULT_FILES}}
    raise SpecError(f"{where}.flavors.python_function.env", "must name the environment files", "write env: {conda: conda.yaml, virtualenv: python_env.yaml}", env)


# --- YAML as written ------------------------------------------------------------------------------

def _mapping(text: str, where: str) -> dict:
    try:
        data = safe_load(text)
    except Exception:  # noqa: BLE001 - any failure to load means the file is not usable YAML
        raise SpecError(where, "is not valid YAML", "fix the YAML syntax, or save the model with MLflow again") from None
    if not isinstance(data, dict):
        raise SpecError(where, "must hold a mapping", "save the model with MLflow again")
    return data


def _raw_value(text: str, *keys: str) -> str | None:
    """The scalar at `keys`, as written in the file (YAML would read `3.10` as the number 3.1)."""
    node = yaml.compose(text)
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((value for name, value in node.value if isinstance(name, yaml.ScalarNode) and name.value == key), None)
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip() or node.tag.endswith(":null"):
        return None
    return node.value.strip()
