"""README: "The same errors fail `pulumi preview`": one definition through `mlenv validate` (a
subprocess) and through the provider's Check over gRPC (as the engine calls it) gives one error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.provider import EnvironmentProvider
from pulumi_mlenv.environment import _definition
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"
REPOSITORY = "127.0.0.1:5000/envs/agree"
PINNED = "registry.example/base/python@sha256:" + "c" * 64


@pytest.fixture(scope="module")
def stack(build_cache):
    with ProviderProcess(env={"MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield Stack(process, type_token=TYPE)


def validate(path: Path) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "validate", "--offline", str(path)], capture_output=True, text=True)
    prefix = f"{path}: error: "
    return done.returncode, [line[len(prefix):] for line in done.stdout.splitlines() if line.startswith(prefix)]


def sdk_inputs(path: Path) -> dict:
    """What `mlenv.Environment(name, REPOSITORY, file=path)` registers (the SDK's own parsing step)."""
    fields, _specs = _definition(str(path), {})
    if "name" in fields:
        fields["env_name"] = fields.pop("name")
    return {**fields, "repository": REPOSITORY}


def test_half_a_base_registry_login_fails_validate_and_preview_with_one_message(stack, tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED}\npip: [six==1.16.0]\ndocker:\n  base_image_registry: {{address: registry.example, username: puller}}\n")
    code, errors = validate(env)
    assert code == 1 and len(errors) == 1 and errors[0].startswith("docker.base_image_registry.password: registry credentials need both")
    assert "RegistrySection(username=..., password=config.require_secret(...))" in errors[0] and "`docker login HOST`" in errors[0]
    preview = stack.preview("login", EnvironmentProvider(), sdk_inputs(env))
    assert preview.op == "failed"
    assert [reason for _, reason in preview.failures] == errors


def test_the_same_definition_passes_both_when_whole(stack, tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED}\npip: [six==1.16.0]\n")
    assert validate(env) == (0, [])
    assert stack.preview("whole", EnvironmentProvider(), sdk_inputs(env)).op == "create"


def test_conda_packages_pass_validate_and_preview_alike(stack, tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED}\nconda: {{channels: [conda-forge], dependencies: [python=3.11, numpy=1.26]}}\n")
    assert validate(env) == (0, [])
    preview = stack.preview("conda", EnvironmentProvider(), sdk_inputs(env))
    assert preview.op == "create" and not preview.failures
    assert preview.checked_inputs["conda"] == {"channels": ["conda-forge"], "dependencies": ["python=3.11", "numpy 1.26.*"]}


def test_a_curated_reference_passes_validate_and_preview_resolved_to_its_version(stack, tmp_path):
    env = tmp_path / "env.yml"
    env.write_text("curated: mlenv:sklearn-1.5@latest\nname: train\n")
    assert validate(env) == (0, [])
    preview = stack.preview("curated", EnvironmentProvider(), sdk_inputs(env))
    assert preview.op == "create" and not preview.failures
    assert (preview.checked_inputs["curated"], preview.checked_inputs["env_name"]) == ("mlenv:sklearn-1.5:1", "train")


def test_a_v1_file_saved_from_a_curated_environment_passes_both_keeping_its_name(stack, tmp_path):
    """The provider sees only the fields: the SDK says the file was one the v1 SDK saved, so its
    reserved AzureML- name is a warning in preview as in validate, and stays the environment's name."""
    import json

    from tests.paths import DEFINITIONS

    data = json.loads((DEFINITIONS / "azureml-v1" / "azureml_environment.json").read_text())
    (tmp_path / "azureml_environment.json").write_text(json.dumps({**data, "name": "AzureML-sklearn-1.5", "docker": {**data["docker"], "baseImage": PINNED}}))
    (tmp_path / "conda_dependencies.yml").write_text((DEFINITIONS / "azureml-v1" / "conda_dependencies.yml").read_text())
    assert validate(tmp_path) == (0, [])
    preview = stack.preview("saved", EnvironmentProvider(), sdk_inputs(tmp_path))
    assert preview.op == "create" and not preview.failures
    assert preview.checked_inputs["env_name"] == "AzureML-sklearn-1.5"
    assert preview.checked_inputs["definition_source"] == "an environment the Azure ML v1 SDK saved"  # create and update see it too
    renamed = {**sdk_inputs(tmp_path), "definition_source": None}  # the same fields written by hand: the rule's error
    refused = stack.preview("written", EnvironmentProvider(), renamed)
    assert [reason.split(" (got")[0] for _, reason in refused.failures] == ["name: the prefix 'AzureML' is reserved (curated environments)"]
