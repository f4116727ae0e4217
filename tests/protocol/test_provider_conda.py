"""A conda environment through the engine's protocol: preview shows the normalized conda section,
up builds it daemonlessly on a base without Python, a one-pin change is an update, and `mlenv validate`
says what an unpinned conda package would lock to."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"


@pytest.fixture(scope="module")
def stack(index, build_cache):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield Stack(process, type_token=TYPE)


def conda_inputs(image: str, channel: str, repository: str, tinylib: str) -> dict:
    return {"image": image, "repository": repository,
            "conda": {"channels": [channel], "dependencies": ["python=3.11", f"tinylib={tinylib}", "chain-a", {"pip": ["six==1.16.0"]}]}}


def test_conda_environment_lifecycle(stack, registry, debian_without_python_image, conda_channel, build_cache):
    repository = f"{registry.host}/envs/conda-provider"
    shutil.rmtree(build_cache / "blob-sources", ignore_errors=True)  # a cold push: no record to mount these layers from
    provider = EnvironmentProvider()
    preview = stack.preview("env", provider, conda_inputs(debian_without_python_image, conda_channel.url, repository, "2.0"))
    assert preview.op == "create" and preview.checked_inputs["conda"]["dependencies"] == ["python=3.11", "tinylib 2.0.*", "chain-a"]
    created = stack.up("env", provider, conda_inputs(debian_without_python_image, conda_channel.url, repository, "2.0"))
    assert created.op == "create" and "tinylib==2.0=0" in created.outputs["packages"] and "six==1.16.0" in created.outputs["packages"]
    assert created.outputs["image_ref"] == f"{repository}@{created.outputs['digest']}"
    same = stack.up("env", provider, conda_inputs(debian_without_python_image, conda_channel.url, repository, "2.0"))
    assert same.op == "same"
    pinned = stack.up("env", provider, conda_inputs(debian_without_python_image, conda_channel.url, repository, "1.0"))
    assert pinned.op == "update" and "tinylib==1.0=0" in pinned.outputs["packages"]
    assert 0 < pinned.outputs["bytes_pushed"] < created.outputs["bytes_pushed"] / 20


def test_validate_says_what_an_unpinned_conda_package_would_lock_to(tmp_path, conda_channel, debian_without_python_image):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {debian_without_python_image}\nconda:\n  channels: ['{conda_channel.url}']\n  dependencies: [python=3.11, tinylib, chain-a=1.0]\n")
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "validate", str(env)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{env}: warning: conda.tinylib: unpinned: it would lock to tinylib=2.0 today. Fix: pin it in conda syntax, e.g. tinylib=2.0" in done.stdout.splitlines()
    assert "chain-a" not in done.stdout  # a pinned package is not warned about
