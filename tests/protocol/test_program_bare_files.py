"""The SDK's `file=` takes the definitions people already have (a bare conda file, a requirements.txt,
an MLflow model), on `image=` or $MLENV_BASE_IMAGE, under `pulumi.runtime.set_mocks`."""

from __future__ import annotations

import pulumi
import pytest

from tests import paths
from tests.protocol.test_program import RecordingMocks

DEFINITIONS = paths.DEFINITIONS
REPO = "127.0.0.1:5000/envs/sdk"
BASE = "registry.example/base/python@sha256:" + "c" * 64


@pytest.fixture
def mocks(monkeypatch):
    monkeypatch.delenv("MLENV_BASE_IMAGE", raising=False)
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="bare", stack="test", preview=False)
    return recorder


def registered(mocks, name):
    (resource,) = [r for r in mocks.resources if r.name == name]
    return resource.inputs


@pulumi.runtime.test
def test_a_requirements_file_on_the_given_image(mocks):
    import pulumi_mlenv as mlenv

    env = mlenv.Environment("reqs", REPO, file=str(DEFINITIONS / "equivalent" / "requirements.txt"), image=BASE)

    def check(_):
        inputs = registered(mocks, "reqs")
        assert inputs["image"] == BASE and inputs["pip"] == ["numpy==1.26.4", "requests>=2.31"]

    return env.urn.apply(check)


@pulumi.runtime.test
def test_a_conda_file_and_an_mlflow_model_on_the_environments_base_image(mocks, monkeypatch):
    import pulumi_mlenv as mlenv

    monkeypatch.setenv("MLENV_BASE_IMAGE", BASE)
    conda = mlenv.Environment("conda", REPO, file=str(DEFINITIONS / "equivalent" / "conda-env.yml"))
    model = mlenv.Environment("model", REPO, file=str(DEFINITIONS / "mlflow" / "sklearn-model"))

    def check(_):
        assert registered(mocks, "conda")["image"] == BASE and registered(mocks, "conda")["python"] == {"version": "3.11"}
        inputs = registered(mocks, "model")
        assert inputs["image"] == BASE and inputs["python"] == {"version": "3.11.9"} and "six==1.16.0" in inputs["pip"]

    return pulumi.Output.all(conda.urn, model.urn).apply(check)


def test_without_an_image_the_program_stops_with_the_one_error(mocks):
    import pulumi_mlenv as mlenv

    with pytest.raises(pulumi.RunError) as caught:
        mlenv.Environment("bare", REPO, file=str(DEFINITIONS / "equivalent" / "requirements.txt"))
    assert str(caught.value) == ("mlenv.Environment: image: a requirements file names no base image. "
                                 "Fix: pass --image IMAGE (e.g. python:3.11-slim) or set $MLENV_BASE_IMAGE; in Pulumi, give image=...")
