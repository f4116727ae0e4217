"""The quickstart program under `pulumi.runtime.set_mocks`: what it registers with the engine."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest
from tests import paths

QUICKSTART = paths.QUICKSTART


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs, image_ref="127.0.0.1:5000/envs/quickstart@sha256:" + "0" * 64)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture
def mocks():
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="mlenv-quickstart", stack="test", preview=False)
    yield recorder


@pulumi.runtime.test
def test_quickstart_registers_one_environment_from_its_file(mocks):
    program = runpy.run_path(str(QUICKSTART / "__main__.py"), run_name="__main__")

    def check(_):
        (resource,) = [r for r in mocks.resources if r.name == "quickstart"]
        assert resource.typ == "pulumi-python:dynamic/mlenv:Environment"
        assert resource.inputs["pip"] == ["numpy==1.26.4", "requests"]
        assert resource.inputs["variables"] == {"OMP_NUM_THREADS": "1"}
        assert resource.inputs["image"] == "127.0.0.1:5000/base/python:3.11-bookworm"
        assert resource.inputs["repository"] == "oci:.mlenv/images"
        assert "__provider" in resource.inputs

    return program["env"].urn.apply(check)


def test_bad_environment_file_is_a_clean_program_error(tmp_path, mocks):
    import pulumi_mlenv as mlenv

    (tmp_path / "env.yml").write_text("image: 127.0.0.1:5000/base/python:3.11\npips: [six]\n")
    with pytest.raises(pulumi.RunError, match=r"^mlenv.Environment: pips: unknown field.*did you mean 'pip'"):
        mlenv.Environment("bad", file=str(tmp_path / "env.yml"), repository="oci:/tmp/x")


@pulumi.runtime.test
def test_pickled_provider_captures_no_credentials(mocks):
    import base64

    from pulumi.runtime import rpc

    import pulumi_mlenv as mlenv

    env = mlenv.Environment("private", image="127.0.0.1:5000/base/python:3.11", pip=["six"], repository="127.0.0.1:5000/envs/p",
                            registry_username="builder", registry_password="hunter2-secret")

    def check(_):
        (resource,) = [r for r in mocks.resources if r.name == "private"]
        pickled = base64.b64decode(resource.inputs["__provider"])
        assert b"mlenv.provider" in pickled  # pickled by reference, not by value
        assert b"hunter2-secret" not in pickled and b"builder" not in pickled
        assert resource.inputs["registry_password"] == {rpc._special_sig_key: rpc._special_secret_sig, "value": "hunter2-secret"}

    return env.urn.apply(check)


@pulumi.runtime.test
def test_from_curated_registers_the_reference_resolved_to_its_version(mocks):
    import pulumi_mlenv as mlenv

    env = mlenv.Environment.from_curated("sklearn", "mlenv:sklearn-1.5@latest", repository="oci:/tmp/curated", tags={"team": "ml"})

    def check(_):
        (resource,) = [r for r in mocks.resources if r.name == "sklearn"]
        assert (resource.inputs["curated"], resource.inputs["tags"]) == ("mlenv:sklearn-1.5:1", {"team": "ml"})
        assert "pip" not in resource.inputs and "image" not in resource.inputs  # the version file is the definition

    return env.urn.apply(check)


def test_a_curated_reference_that_names_nothing_is_a_clean_program_error(mocks):
    import pulumi_mlenv as mlenv

    with pytest.raises(pulumi.RunError, match=r"^mlenv.Environment: curated: no curated environment named 'sklern'.*did you mean mlenv:sklearn-1.5@latest"):
        mlenv.Environment.from_curated("bad", "mlenv:sklern@latest", repository="oci:/tmp/x")
