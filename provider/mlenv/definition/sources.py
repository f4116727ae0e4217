"""What a definition file or folder is, told apart by its content (never by its name), and read.

- a YAML/JSON mapping in our schema (ours, Azure ML v2, Azure ML v1 JSON): `load.from_mapping`
- a mapping of `channels:` / `dependencies:` only: a bare conda environment file (`bare_files`)
- `python:` as a version with `build_dependencies:` / `dependencies:`: MLflow's python_env.yaml
- `flavors:`: an MLflow model's MLmodel, read with the files beside it (`mlflow`)
- templated `{{asset.name}}` / `{{image.context.path}}` / `{{latest-…}}` fields: an Azure ML asset's spec.yaml
- lines that are no YAML mapping: a requirements.txt (`bare_files`)
- a folder: an MLflow model (MLmodel), an Azure ML asset (asset.yaml or spec.yaml), a folder the v1
  SDK saved (azureml_environment.json), or MLflow's python_env.yaml without a model (read by content)
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml

from mlenv.definition import confine
from mlenv.definition.bounds import safe_load
from mlenv.definition.model import EnvironmentSpec
from mlenv.diagnostics.errors import SpecError

# Each kind's reader is imported only for a file of that kind (our YAML never pays for MLflow's,
# conda's or the asset's): the cheap key tests below only decide whether its own test is worth asking.

_YAML_LINE = re.compile(r"^(?:[A-Za-z_$\"'][^\s:#]*\s*:(?:\s|$)|- |---|[{\[])")  # `key:`, a list item, a document, a flow


def load_source(path: Path) -> EnvironmentSpec:
    """The definition at `path`, reading only files under its folder (`confine`); the file named is
    always allowed itself. The spec remembers where it was read (`origin`, metadata). A curated
    reference (`mlenv:sklearn-1.5@latest`) given where a path goes stands for its definition."""
    from mlenv.definition.curated import is_reference

    if is_reference(str(path)):
        from mlenv.definition.load import from_mapping

        return from_mapping({"curated": str(path)})
    with confine.definition_root(path if path.is_dir() else path.parent, path):
        return replace(_load(path), origin=str(path.resolve()))


def _load(path: Path) -> EnvironmentSpec:
    if path.is_dir():
        return _folder(path)
    text = read_text(path, "file")
    try:
        data, error = safe_load(text), None
    except Exception as problem:  # noqa: BLE001 - PyYAML raises more than YAMLError (ValueError, RecursionError…)
        data, error = None, problem
    if isinstance(data, dict):
        return _mapping_file(path, data)
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise SpecError("file", f"{path} holds no definition (it is empty or only comments)",
                        "write fields such as image and pip, conda channels and dependencies, or requirement lines")
    if not any(_YAML_LINE.match(line) for line in lines):
        from mlenv.definition.bare_files import requirements_file

        return requirements_file(path)
    if error is not None:
        raise _yaml_error(path, error)
    raise SpecError("file", f"{path} must hold a mapping of fields, not a {type(data).__name__}", "write fields such as image, pip, conda_file, variables")


def read_text(path: Path, where: str) -> str:
    try:
        return confine.read_text(path, where, str(path))
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise SpecError(where, f"cannot read {path}: {reason}", "pass the path of an existing definition file", str(path)) from None


def _yaml_error(path: Path, error: Exception) -> SpecError:
    mark = getattr(error, "problem_mark", None)
    at = f" at line {mark.line + 1}" if mark else ""
    problem = getattr(error, "problem", None)
    return SpecError("file", f"{path} is not valid YAML{at}{f': {problem}' if problem else ''}", "fix the YAML syntax")


def _mapping_file(path: Path, data: dict) -> EnvironmentSpec:
    from mlenv.definition.load import from_file_mapping

    if "flavors" in data:
        return _mlflow().load_model(path.parent)
    if "python" in data and not isinstance(data["python"], dict) and _mlflow().is_python_env(data):  # ours: python is a mapping
        return _mlflow().python_env_file(path, data)
    if {"channels", "dependencies"} & set(data):
        from mlenv.definition import bare_files

        if bare_files.is_conda_env(data):
            return bare_files.conda_env_file(path, data)
    if ("{{" in repr(data) or path.name == "spec.yaml") and _asset().is_asset_spec(path, data):  # templates, or an asset's spec file
        return _asset().load_asset(path.parent, spec_file=path)
    return from_file_mapping(path, data)


def _folder(path: Path) -> EnvironmentSpec:
    from mlenv.definition.azureml_v1 import FILE_NAME as V1_FILE

    mlflow, curated_asset = _mlflow(), _asset()
    if (path / mlflow.MODEL_FILE).is_file():
        return mlflow.load_model(path)
    if curated_asset.is_asset_folder(path):
        return curated_asset.load_asset(path)
    if (path / V1_FILE).is_file():  # a folder Environment.save_to_directory wrote (load_from_directory reads it so)
        return load_source(path / V1_FILE)
    if (path / mlflow.PYTHON_ENV_FILE).is_file():  # MLflow's environment without a model (an MLproject's python_env)
        return _load(path / mlflow.PYTHON_ENV_FILE)
    raise SpecError("file", f"{path} is a folder without a definition mlenv knows",
                    f"pass a definition file, or a folder holding an MLflow model ({mlflow.MODEL_FILE}) or environment "
                    f"({mlflow.PYTHON_ENV_FILE}), an Azure ML asset (asset.yaml, spec.yaml) or an environment the v1 SDK saved ({V1_FILE})")


def _mlflow():
    from mlenv.definition import mlflow

    return mlflow


def _asset():
    from mlenv.definition import curated_asset

    return curated_asset
