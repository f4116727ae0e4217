"""MLflow model folders and python_env.yaml as definitions, read as MLflow recreates the environment."""

from __future__ import annotations

import shutil

import pytest

from mlenv.definition.load import from_mapping, load_file
from mlenv.definition.rules import findings
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.hashing import definition_hash
from tests import paths

BASE = "registry.example/base/python:3.11-bookworm"
MLFLOW = paths.DEFINITIONS / "mlflow"
PINS = ["requests==2.32.3", "setuptools==75.8.0", "six==1.16.0", "tqdm==4.66.5", "wheel==0.45.1"]


def pins(spec) -> list[str]:
    return sorted(str(r) for r in spec.pip.requirements)


def test_an_mlflow2_model_folder_is_its_python_env(tmp_path):
    """virtualenv first (MLflow 2's default environment manager): python_env.yaml's Python, its build
    dependencies (pip itself dropped, as from a conda file) and its dependencies (-r requirements.txt)."""
    spec = load_file(MLFLOW / "sklearn-model", image=BASE)
    assert spec.source == "an MLflow model" and spec.image == BASE
    assert spec.python.version == "3.11.9" and pins(spec) == PINS
    same = from_mapping({"image": BASE, "python": {"version": "3.11.9"}, "pip": PINS})
    assert definition_hash(spec) == definition_hash(same)
    assert definition_hash(load_file(MLFLOW / "sklearn-model" / "MLmodel", image=BASE)) == definition_hash(spec)


def test_python_env_yaml_alone_is_accepted():
    spec = load_file(MLFLOW / "sklearn-model" / "python_env.yaml", image=BASE)
    assert spec.source == "an MLflow python_env.yaml" and spec.python.version == "3.11.9" and pins(spec) == PINS


def test_a_folder_with_python_env_yaml_and_no_mlmodel_is_that_file(tmp_path):
    folder = shutil.copytree(MLFLOW / "sklearn-model", tmp_path / "project", ignore=shutil.ignore_patterns("MLmodel"))
    spec = load_file(folder, image=BASE)
    assert spec.source == "an MLflow python_env.yaml" and spec.python.version == "3.11.9" and pins(spec) == PINS
    assert definition_hash(spec) == definition_hash(load_file(folder / "python_env.yaml", image=BASE))


def test_python_version_is_read_as_written_not_as_a_yaml_number(tmp_path):
    """MLflow writes `python: 3.10` unquoted; YAML would read the number 3.1."""
    (tmp_path / "python_env.yaml").write_text("python: 3.10\nbuild_dependencies:\n- pip\ndependencies:\n- six==1.16.0\n")
    assert load_file(tmp_path / "python_env.yaml", image=BASE).python.version == "3.10"


def test_an_mlflow1_model_folder_is_its_conda_file():
    """`env: conda.yaml` as a string (MLflow 1): the conda file beside MLmodel."""
    spec = load_file(MLFLOW / "mlflow1-model", image=BASE)
    assert spec.source == "an MLflow model" and spec.python.version == "3.11"
    assert pins(spec) == ["six==1.16.0", "tqdm"] and spec.conda.channels == ("conda-forge",)
    assert [w.where for w in findings(spec).warnings if "unpinned" in w.problem] == ["pip.tqdm"]


def test_a_folder_with_only_requirements_runs_on_the_flavors_python(tmp_path):
    folder = shutil.copytree(MLFLOW / "mlflow1-model", tmp_path / "model")
    (folder / "conda.yaml").unlink()
    spec = load_file(folder, image=BASE)
    assert spec.python.version == "3.11" and pins(spec) == ["six==1.16.0", "tqdm"]  # '3.11' from python_function.python_version


def test_a_model_without_environment_files_says_which_it_looked_for(tmp_path):
    folder = shutil.copytree(MLFLOW / "sklearn-model", tmp_path / "model")
    for name in ("conda.yaml", "python_env.yaml", "requirements.txt"):
        (folder / name).unlink()
    with pytest.raises(SpecError) as caught:
        load_file(folder, image=BASE)
    assert caught.value.headline.startswith("MLmodel (model): names no environment file that exists (python_env.yaml, conda.yaml or requirements.txt)")


def test_without_a_base_image_the_model_names_both_ways_to_give_one(monkeypatch):
    monkeypatch.delenv("MLENV_BASE_IMAGE", raising=False)
    (error,) = findings(load_file(MLFLOW / "sklearn-model")).errors
    assert error.headline.startswith("image: an MLflow model names no base image. Fix: pass --image IMAGE")


def test_python_env_mistakes_name_the_file_and_field(tmp_path):
    (tmp_path / "python_env.yaml").write_text("python: 3.11.9\ndependencies: six==1.16.0\n")
    with pytest.raises(SpecError, match=r"python_env \(python_env.yaml\).dependencies: must be a list"):
        load_file(tmp_path / "python_env.yaml", image=BASE)
    (tmp_path / "python_env.yaml").write_text("python: 3.11.9\ndependencies:\n- six=1.16.0\n")
    with pytest.raises(SpecError, match=r"python_env \(python_env.yaml\).dependencies\[0\]"):
        load_file(tmp_path / "python_env.yaml", image=BASE)
