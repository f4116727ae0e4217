"""The SDK's definition sources under `pulumi.runtime.set_mocks`: what each registers, and the
warnings a user sees in `pulumi preview` (Pulumi warnings, logged through the engine)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import rpc

from tests.protocol.test_program import RecordingMocks
from tests import paths

DEFINITIONS = paths.DEFINITIONS
REPO = "127.0.0.1:5000/envs/sdk"
BASE = "registry.example/base/python:3.11-bookworm"


@pytest.fixture
def mocks(monkeypatch, index):
    monkeypatch.setenv("MLENV_INDEX_URL", index.url)  # unpinned-package warnings ask the local index
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="sources", stack="test", preview=True)
    return recorder


def registered(mocks, name):
    (resource,) = [r for r in mocks.resources if r.name == name]
    return resource.inputs


def warnings_in(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pulumi.runtime.test
def test_from_pip_requirements_normalizes_and_warns_with_the_locked_version(mocks, caplog):
    import pulumi_mlenv as mlenv

    caplog.set_level(logging.WARNING)
    env = mlenv.Environment.from_pip_requirements("train", str(DEFINITIONS / "equivalent" / "requirements.txt"), repository=REPO, image=BASE,
                                                  python=mlenv.PythonSection(version="3.11"))

    def check(_):
        inputs = registered(mocks, "train")
        assert inputs["pip"] == ["numpy==1.26.4", "requests>=2.31"] and inputs["env_name"] == "train"
        assert inputs["python"] == {"version": "3.11"}
        assert ("mlenv: pip.requests: unpinned (Requests>=2.31): it would lock to requests==2.32.3 today. "
                "Fix: pin it (requests==2.32.3) so a rebuild elsewhere gets the same version") in warnings_in(caplog)

    return env.urn.apply(check)


@pulumi.runtime.test
def test_from_conda_specification_is_python_plus_pip(mocks):
    import pulumi_mlenv as mlenv

    env = mlenv.Environment.from_conda_specification("conda-env", str(DEFINITIONS / "equivalent" / "conda-env.yml"), repository=REPO, image=BASE)

    def check(_):
        inputs = registered(mocks, "conda-env")
        assert inputs["pip"] == ["numpy==1.26.4", "requests>=2.31"] and inputs["python"] == {"version": "3.11"}
        assert "conda" not in inputs and "conda_file" not in inputs

    return env.urn.apply(check)


@pulumi.runtime.test
def test_environment_file_warnings_reach_preview(mocks, caplog, tmp_path):
    import pulumi_mlenv as mlenv

    caplog.set_level(logging.WARNING)
    (tmp_path / "conda.yml").write_text("prefix: /home/me/miniconda3/envs/x\ndependencies:\n  - pip: [six==1.16.0]\n")
    (tmp_path / "env.yml").write_text("image: registry.example/base/python\nconda_file: conda.yml\n")
    env = mlenv.Environment("warned", REPO, file=str(tmp_path / "env.yml"))

    def check(_):
        shown = warnings_in(caplog)
        assert any(m.startswith("mlenv: image: mutable tag 'latest' (no tag or digest: latest is implied)") for m in shown)
        assert any(m.startswith("mlenv: conda.channels: no channels") for m in shown)
        assert any(m.startswith("mlenv: conda.dependencies: missing Python version") for m in shown)
        assert any("prefix" in m for m in shown)

    return env.urn.apply(check)


@pulumi.runtime.test
def test_typed_sections_keep_the_base_registry_password_secret(mocks):
    import pulumi_mlenv as mlenv

    env = mlenv.Environment(
        "sections", REPO,
        python=mlenv.PythonSection(version="3.11"),
        docker=mlenv.DockerSection(base_image="base/python:3.11-bookworm", steps=None,
                                   base_image_registry=mlenv.RegistrySection(address="registry.example", username="puller", password="pull-s3cret")),
        spark=mlenv.SparkSection(),
        pip=["six==1.16.0"],
        environment_variables={"A": "1"},
    )

    def check(_):
        inputs = registered(mocks, "sections")
        assert inputs["image"] == "registry.example/base/python:3.11-bookworm"
        assert inputs["docker"] == {"base_image_registry": {"address": "registry.example", "username": "puller"}}
        assert inputs["base_image_registry_password"] == {rpc._special_sig_key: rpc._special_secret_sig, "value": "pull-s3cret"}
        assert b"pull-s3cret" not in base64.b64decode(inputs["__provider"])
        assert "pull-s3cret" not in json.dumps({k: v for k, v in inputs.items() if k != "base_image_registry_password"})

    return env.urn.apply(check)


@pulumi.runtime.test
def test_from_docker_build_context_and_from_dockerfile(mocks):
    import pulumi_mlenv as mlenv

    context = DEFINITIONS / "docker-build" / "context"
    built = mlenv.Environment.from_docker_build_context("ctx", str(context), "docker/Dockerfile", repository=REPO)
    text = mlenv.Environment.from_dockerfile("text", "FROM registry.example/base/python:3.11\nRUN true\n", repository=REPO)

    def check(_):
        build = registered(mocks, "ctx")["build"]
        assert Path(build["path"]).resolve() == context.resolve() and build["dockerfile_path"] == "docker/Dockerfile"
        assert registered(mocks, "text")["dockerfile"].startswith("FROM registry.example/base/python:3.11")

    return pulumi.Output.all(built.urn, text.urn).apply(check)


@pulumi.runtime.test
def test_from_existing_conda_environment_reads_conda_meta(mocks, tmp_path):
    import pulumi_mlenv as mlenv

    prefix = tmp_path / "envs" / "ds"
    (prefix / "conda-meta").mkdir(parents=True)
    record = {"name": "python", "version": "3.11.7", "build": "hab00c5b_1_cpython", "channel": "https://conda.anaconda.org/conda-forge/linux-64"}
    (prefix / "conda-meta" / "python-3.11.7-hab00c5b_1_cpython.json").write_text(json.dumps(record))
    dist = prefix / "lib" / "python3.11" / "site-packages" / "tqdm-4.66.5.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tqdm\nVersion: 4.66.5\n")
    (dist / "INSTALLER").write_text("pip\n")
    env = mlenv.Environment.from_existing_conda_environment("ds", str(prefix), repository=REPO, image=BASE)

    def check(_):
        inputs = registered(mocks, "ds")
        assert inputs["pip"] == ["tqdm==4.66.5"] and inputs["python"] == {"version": "3.11.7"}

    return env.urn.apply(check)


def test_a_definition_file_error_is_a_clean_program_error(mocks, tmp_path):
    import pulumi_mlenv as mlenv

    (tmp_path / "requirements.txt").write_text("six==1.16.0\n-e ./src\n")
    with pytest.raises(pulumi.RunError) as caught:
        mlenv.Environment.from_pip_requirements("bad", str(tmp_path / "requirements.txt"), repository=REPO, image=BASE)
    assert str(caught.value).startswith("mlenv.Environment: pip (requirements.txt:2): ") and "Fix:" in str(caught.value)


@pulumi.runtime.test
def test_builder_and_verify_arguments(mocks):
    import pulumi_mlenv as mlenv

    env = mlenv.Environment("checked", REPO, image=BASE, pip=["six==1.16.0"], builder="docker", verify=["python -c 'import six'"])

    def check(_):
        inputs = registered(mocks, "checked")
        assert inputs["builder"] == "docker" and inputs["verify"] == ["python -c 'import six'"]

    return env.urn.apply(check)
