"""The provider driven as the Pulumi engine drives it: `python -m pulumi.dynamic` over gRPC."""

from __future__ import annotations

import os

import httpx
import pytest

from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"


@pytest.fixture(scope="module")
def engine(index, build_cache):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield process


@pytest.fixture
def stack(engine):
    return Stack(engine, type_token=TYPE)


def inputs(base, repository, *pip, **extra):
    return {"image": base, "pip": list(pip), "variables": {"OMP_NUM_THREADS": "1"}, "repository": repository, **extra}


def test_lifecycle_create_same_update_metadata(stack, registry, base_image):
    repository = f"{registry.host}/envs/lifecycle"
    provider = EnvironmentProvider()
    created = stack.up("env", provider, inputs(base_image, repository, "six==1.16.0", "requests", description="v1"))
    assert created.op == "create" and not created.outputs["cache_hit"] and created.outputs["bytes_pushed"] > 0
    assert created.outputs["image_ref"] == f"{repository}@{created.outputs['digest']}"
    assert created.checked_inputs["definition_hash"] == created.outputs["definition_hash"]

    same = stack.up("env", provider, inputs(base_image, repository, "requests", "Six==1.16.0", description="v1"))
    assert same.op == "same"

    described = stack.up("env", provider, inputs(base_image, repository, "six==1.16.0", "requests", description="v2"))
    assert described.op == "update"
    assert described.outputs["digest"] == created.outputs["digest"] and described.outputs["bytes_pushed"] == 0
    assert described.outputs["description"] == "v2"

    pinned = stack.up("env", provider, inputs(base_image, repository, "six==1.17.0", "requests", description="v2"))
    assert pinned.op == "update" and pinned.outputs["digest"] != created.outputs["digest"]
    assert "six==1.17.0" in pinned.outputs["packages"] and not pinned.outputs["cache_hit"]


def test_second_resource_with_same_definition_is_a_cache_hit(stack, registry, base_image):
    repository = f"{registry.host}/envs/shared"
    provider = EnvironmentProvider()
    first = stack.up("train", provider, inputs(base_image, repository, "six==1.16.0", env_name="train"))
    second = stack.up("serve", provider, inputs(base_image, repository, "six==1.16.0", env_name="serve"))
    assert second.op == "create" and second.outputs["cache_hit"] and second.outputs["bytes_pushed"] == 0
    assert second.outputs["image_ref"] == first.outputs["image_ref"]


def test_preview_shows_the_hash_and_normalized_packages(stack, registry, base_image):
    preview = stack.preview("pv", EnvironmentProvider(), inputs(base_image, f"{registry.host}/envs/pv", "Requests", "NumPy==1.26.04"))
    assert preview.op == "create"
    assert preview.checked_inputs["pip"] == ["numpy==1.26.4", "requests"]
    assert len(preview.checked_inputs["definition_hash"]) == 64


def test_repository_change_replaces(stack, registry, base_image):
    provider = EnvironmentProvider()
    stack.up("moving", provider, inputs(base_image, f"{registry.host}/envs/from", "six==1.16.0"))
    moved = stack.up("moving", provider, inputs(base_image, f"{registry.host}/envs/to", "six==1.16.0"))
    assert moved.op == "replace" and moved.outputs["image_ref"].startswith(f"{registry.host}/envs/to@")


def test_bad_input_fails_check_with_field_and_fix(stack, registry, base_image):
    result = stack.up("bad", EnvironmentProvider(), inputs(base_image, f"{registry.host}/envs/bad", "numpy=>1"))
    assert result.op == "failed"
    ((prop, reason),) = result.failures
    assert prop == "pip" and reason.startswith("pip[0]: invalid requirement") and "Fix:" in reason


def test_build_failure_is_an_explanation_not_a_traceback(stack, registry, nopython_image):
    result = stack.up("nopy", EnvironmentProvider(), inputs(nopython_image, f"{registry.host}/envs/nopy", "six==1.16.0"))
    assert result.op == "failed"
    assert "has no Python 3 interpreter" in result.error and "Fix:" in result.error
    assert "diagnosis: image.no-python" in result.error and "full log: " in result.error
    assert "Traceback" not in result.error


def test_refresh_reports_a_deleted_image_as_gone(stack, registry, base_image):
    repository = f"{registry.host}/envs/refresh"
    created = stack.up("gone", EnvironmentProvider(), inputs(base_image, repository, "six==1.16.0", "idna"))
    stack.refresh("gone")
    assert "gone" in stack.state
    deleted = httpx.delete(f"{registry.url}/v2/envs/refresh/manifests/{created.outputs['digest']}")
    assert deleted.status_code == 202
    stack.refresh("gone")
    assert "gone" not in stack.state


def test_password_never_reaches_outputs(stack, auth_registry, base_image):
    result = stack.up("private", EnvironmentProvider(), inputs(base_image, f"{auth_registry.host}/envs/private", "six==1.16.0",
                                                              registry_username="builder", registry_password="s3cret-pass"))
    assert result.op == "create", result.error
    assert "s3cret-pass" not in repr(result.outputs)
    assert "registry_password" not in result.outputs


def test_conda_file_pip_list_and_requirements_file_share_one_image(stack, registry, base_image, tmp_path):
    """Three sources, one definition: the second and third resources are cache hits on the first's image."""
    repository = f"{registry.host}/envs/sources"
    (tmp_path / "requirements.txt").write_text("# pinned\nSix == 1.16.0\n")
    (tmp_path / "conda.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip: [six==1.16.0]\n")
    common = {"repository": repository, "python": {"version": "3.11"}}
    provider = EnvironmentProvider()
    listed = stack.up("listed", provider, {**common, "image": base_image, "pip": ["six==1.16.0"]})
    from_file = stack.up("reqfile", provider, {**common, "image": base_image, "pip": str(tmp_path / "requirements.txt")})
    from_conda = stack.up("conda", provider, {"repository": repository, "image": base_image, "conda_file": str(tmp_path / "conda.yml")})
    assert not listed.outputs["cache_hit"]
    assert from_file.outputs["cache_hit"] and from_conda.outputs["cache_hit"]
    assert listed.outputs["image_ref"] == from_file.outputs["image_ref"] == from_conda.outputs["image_ref"]
    assert from_conda.checked_inputs["pip"] == ["six==1.16.0"] and from_conda.checked_inputs["python"] == {"version": "3.11"}
    assert "conda" not in from_conda.checked_inputs  # no conda packages: it means this Python and these pip packages


def test_validation_errors_fail_preview_naming_field_and_fix(stack, registry, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = stack.preview("AzureML-mine", EnvironmentProvider(), {
        "repository": f"{registry.host}/envs/invalid", "env_name": "AzureML-mine", "build": {"path": str(tmp_path)}, "pip": ["six==1.16.0"]})
    assert result.op == "failed"
    fields = {prop for prop, _ in result.failures}
    assert {"env_name", "pip"} <= fields
    reasons = " | ".join(reason for _, reason in result.failures)
    assert "the prefix 'AzureML' is reserved" in reasons and "cannot apply to a Docker build context" in reasons and "Fix:" in reasons


def test_python_pin_that_the_base_image_lacks_is_explained(stack, registry, base_image):
    result = stack.up("py310", EnvironmentProvider(), {"repository": f"{registry.host}/envs/py310", "image": base_image,
                                                        "python": {"version": "3.10"}, "pip": ["six==1.16.0"]})
    assert result.op == "failed" and "Traceback" not in result.error
    assert "the definition asks for Python 3.10, the base image has Python 3.11" in result.error
    assert "diagnosis: image.python-mismatch" in result.error
