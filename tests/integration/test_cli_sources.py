"""The definitions people already have, through `mlenv` as a subprocess: bare conda files and
requirements.txt (with --image / $MLENV_BASE_IMAGE), MLflow models, the v1 SDK's saved folder and
Azure ML asset folders — validate, hash, diff and build against the local registry and index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import paths

MLENV = [sys.executable, "-m", "mlenv.cli"]
DEFINITIONS = paths.DEFINITIONS
PINNED = "registry.example/base/python@sha256:" + "c" * 64
NO_IMAGE = "Fix: pass --image IMAGE (e.g. python:3.11-slim) or set $MLENV_BASE_IMAGE; in Pulumi, give image=..."


def run(*args, env: dict | None = None, cwd=None):
    environment = {k: v for k, v in os.environ.items() if k != "MLENV_BASE_IMAGE"}
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, env={**environment, **(env or {})}, cwd=cwd)


def built(*args) -> dict:
    done = run("build", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- validate, hash, diff: no server ------------------------------------------------------------

def test_validate_takes_bare_files_with_a_base_image_and_names_both_settings_without(tmp_path):
    conda, requirements = DEFINITIONS / "equivalent" / "conda-env.yml", DEFINITIONS / "equivalent" / "requirements.txt"
    done = run("validate", "--offline", str(conda), str(requirements))
    assert done.returncode == 1
    assert f"{conda}: error: image: a conda environment file names no base image. {NO_IMAGE}" in done.stdout.splitlines()
    assert f"{requirements}: error: image: a requirements file names no base image. {NO_IMAGE}" in done.stdout.splitlines()
    given = run("validate", "--offline", "--image", PINNED, str(conda), str(requirements))
    assert given.returncode == 0 and given.stdout.splitlines()[-1] == f"{requirements}: ok (1 warning)", given.stdout
    from_env = run("validate", "--offline", str(requirements), env={"MLENV_BASE_IMAGE": PINNED})
    assert from_env.returncode == 0 and "channels: unknown field" not in from_env.stdout and "not valid YAML" not in from_env.stdout


def test_hash_of_a_bare_file_is_the_hash_of_our_yaml_naming_it(tmp_path):
    shutil.copy(DEFINITIONS / "equivalent" / "conda-env.yml", tmp_path / "environment.yml")
    (tmp_path / "ours.yml").write_text(f"image: {PINNED}\nconda_file: environment.yml\n")
    bare = run("hash", "--image", PINNED, str(tmp_path / "environment.yml"))
    assert bare.returncode == 0 and bare.stdout == run("hash", str(tmp_path / "ours.yml")).stdout
    assert run("hash", str(tmp_path / "environment.yml"), env={"MLENV_BASE_IMAGE": PINNED}).stdout == bare.stdout


def test_hash_refuses_what_validate_rejects_with_the_same_error(tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"name: AzureML-train\nimage: {PINNED}\npip: [six==1.16.0]\n")
    validated = run("validate", "--offline", str(env))
    hashed = run("hash", str(env))
    assert validated.returncode == 1 and hashed.returncode == 1 and hashed.stdout == ""
    errors = [line.removeprefix(f"{env}: error: ") for line in validated.stdout.splitlines() if ": error: " in line]
    assert hashed.stderr.splitlines() == [f"error: {error}" for error in errors] and errors[0].startswith("name: the prefix 'AzureML' is reserved")
    bare = run("hash", str(DEFINITIONS / "equivalent" / "requirements.txt"))
    assert bare.returncode == 1 and bare.stderr == f"error: image: a requirements file names no base image. {NO_IMAGE}\n"
    broken = tmp_path / "broken.yml"
    broken.write_text("image: [unclosed\npip: x\n")
    assert run("hash", str(broken)).returncode == run("validate", "--offline", str(broken)).returncode == 1


def test_diff_compares_two_requirements_files(tmp_path):
    (tmp_path / "old.txt").write_text("six==1.16.0\ntqdm==4.66.5\n")
    (tmp_path / "new.txt").write_text("six==1.17.0\ntqdm==4.66.5\n")
    done = run("diff", "--image", PINNED, str(tmp_path / "old.txt"), str(tmp_path / "new.txt"))
    assert done.returncode == 0 and "pip: six 1.16.0 → 1.17.0" in done.stdout, done.stdout


def test_image_given_for_a_definition_with_its_own_base_is_ignored_with_a_warning(tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED}\npip: [six==1.16.0]\n")
    done = run("hash", "--image", "python:3.11", str(env))
    assert done.returncode == 0 and done.stdout == run("hash", str(env)).stdout
    assert done.stderr == f"warning: --image is ignored for {env}: it names its own base ({PINNED})\n"


def test_the_asset_folder_validates_with_the_version_each_template_would_lock_to(index):
    asset = DEFINITIONS / "azureml-asset" / "torch-pip"
    done = run("validate", "--index-url", index.url, str(asset))
    assert done.returncode == 0, done.stdout
    assert (f"{asset}: warning: pip.six: unpinned (six): it would lock to six==1.17.0 today. "
            "Fix: pin it (six==1.17.0) so a rebuild elsewhere gets the same version") in done.stdout.splitlines()


# --- build: the local registry and index ---------------------------------------------------------

@pytest.mark.integration
def test_build_a_bare_requirements_file_and_a_bare_conda_file(tmp_path, base_image, index):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\ntqdm==4.66.5\n")
    (tmp_path / "environment.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - six==1.16.0\n")
    out = f"oci:{tmp_path / 'out'}"
    pip = built(str(tmp_path / "requirements.txt"), "--image", base_image, "--registry", out, "--index-url", index.url)
    assert pip["packages"] == ["pip==24.3.1", "six==1.16.0", "tqdm==4.66.5"]
    done = run("build", str(tmp_path / "environment.yml"), "--registry", out, "--index-url", index.url, "--json", env={"MLENV_BASE_IMAGE": base_image})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["packages"] == ["pip==24.3.1", "six==1.16.0"]


@pytest.mark.integration
def test_build_refuses_a_bare_file_without_a_base_image_before_anything_else(tmp_path, index):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    done = run("build", str(tmp_path / "requirements.txt"), "--registry", f"oci:{tmp_path / 'out'}", "--index-url", index.url)
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == f"error: image: a requirements file names no base image. {NO_IMAGE}"
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_build_an_mlflow_model_folder_and_import_its_packages(tmp_path, registry, base_image, index, docker_engine):
    model = shutil.copytree(DEFINITIONS / "mlflow" / "sklearn-model", tmp_path / "model")
    result = built(str(model), "--image", base_image, "--registry", f"{registry.host}/envs/mlflow-model", "--index-url", index.url)
    assert result["packages"] == ["certifi==2026.10.19.post1", "charset-normalizer==3.5.3", "idna==3.20", "pip==24.3.1", "requests==2.32.3",
                                  "setuptools==75.8.0", "six==1.16.0", "tqdm==4.66.5", "urllib3==2.8.0", "wheel==0.45.1"], result["packages"]
    docker_engine.images.pull(result["image_ref"])
    output = docker_engine.containers.run(result["image_ref"], ["python", "-c", "import six, tqdm, requests; print(six.__version__)"], remove=True)
    assert output.decode().strip() == "1.16.0"
    alone = built(str(model / "python_env.yaml"), "--image", base_image, "--registry", f"{registry.host}/envs/mlflow-model", "--index-url", index.url)
    assert alone["definition_hash"] == result["definition_hash"] and alone["cache_hit"] is True


@pytest.mark.integration
def test_a_folder_holding_only_python_env_yaml_validates_hashes_and_builds_as_the_file(tmp_path, base_image, index):
    """MLflow's environment without a model (an MLflow project keeps it so): python_env.yaml and the
    requirements.txt it includes, no MLmodel."""
    folder = shutil.copytree(DEFINITIONS / "mlflow" / "sklearn-model", tmp_path / "project", ignore=shutil.ignore_patterns("MLmodel", "conda.yaml"))
    validated = run("validate", "--offline", "--image", PINNED, str(folder))
    assert validated.returncode == 0 and validated.stdout.splitlines()[-1] == f"{folder}: ok (0 warnings)", validated.stdout
    by_folder = run("hash", "--image", PINNED, str(folder))
    assert by_folder.returncode == 0 and by_folder.stdout == run("hash", "--image", PINNED, str(folder / "python_env.yaml")).stdout
    result = built(str(folder), "--image", base_image, "--registry", f"oci:{tmp_path / 'out'}", "--index-url", index.url)
    assert "six==1.16.0" in result["packages"] and "tqdm==4.66.5" in result["packages"]


@pytest.mark.integration
def test_the_v1_sdk_saved_folder_builds_as_saved(tmp_path, base_image, index):
    """azureml_environment.json with every standard field and its conda_dependencies.yml beside it; the
    only difference from the fixture is the base image, one this machine can pull."""
    saved = shutil.copytree(DEFINITIONS / "azureml-v1", tmp_path / "saved", ignore=shutil.ignore_patterns("api", "*.md"))
    data = json.loads((saved / "azureml_environment.json").read_text())
    data["docker"]["baseImage"] = base_image
    (saved / "azureml_environment.json").write_text(json.dumps(data, indent=4))
    assert run("validate", "--offline", str(saved)).returncode == 0
    by_folder = built(str(saved), "--registry", f"oci:{tmp_path / 'out'}", "--index-url", index.url)
    assert by_folder["packages"] == ["pip==23.3.1", "six==1.16.0", "tqdm==4.66.5"]  # the conda file's pip=23.3.1, applied
    by_file = built(str(saved / "azureml_environment.json"), "--registry", f"oci:{tmp_path / 'out'}", "--index-url", index.url)
    assert by_file["cache_hit"] is True and by_file["definition_hash"] == by_folder["definition_hash"]


def write_asset(root: Path, base: str) -> Path:
    """An asset folder in the azureml-assets shape (tests/fixtures/definitions/azureml-asset), whose
    base this machine can pull and whose pip install reaches the local index."""
    shutil.copytree(DEFINITIONS / "azureml-asset" / "torch-pip", root)
    (root / "context" / "Dockerfile").write_text(
        f"FROM {base}:{{{{latest-image-tag}}}}\n\nCOPY requirements.txt .\n"
        "RUN --mount=type=secret,id=mlenv-pip-conf,target=/etc/pip.conf python3 -m venv /opt/asset && /opt/asset/bin/pip install -r requirements.txt\n")
    (root / "context" / "requirements.txt").write_text("six=={{latest-pypi-version}}\n")
    return root


@pytest.mark.integration
def test_build_an_asset_folder_newest_at_the_first_build_then_kept(tmp_path, registry, base_image, index, docker_engine):
    from mlenv.oci.rootfs import import_rootfs
    from testbed import services

    base = base_image.rsplit(":", 1)[0]
    import_rootfs(services.ensure_base_rootfs(), f"{base}:latest")
    asset = write_asset(tmp_path / "asset", base)
    repository = f"{registry.host}/envs/asset"
    first = built(str(asset), "--registry", repository, "--index-url", index.url)
    assert first["cache_hit"] is False
    docker_engine.images.pull(first["image_ref"])
    output = docker_engine.containers.run(first["image_ref"], ["/opt/asset/bin/python", "-c", "import six; print(six.__version__)"], remove=True)
    assert output.decode().strip() == "1.17.0"  # the newest six on the index, as the template means
    again = built(str(asset), "--registry", repository, "--index-url", index.url)
    assert again["cache_hit"] is True and again["digest"] == first["digest"]
    assert "{{" in (asset / "context" / "requirements.txt").read_text()  # the asset itself is left as written
