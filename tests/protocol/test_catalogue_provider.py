"""Versions and labels through the provider as the engine drives it (gRPC), and the two-stack example
under `pulumi.runtime.set_mocks` with `get_environment` reading the real registry."""

from __future__ import annotations

import os
import runpy

import pulumi
import pytest

from mlenv.catalogue import reads
from mlenv.definition.reference import parse_repository
from mlenv.oci.store import open_store
from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack
from tests import paths

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"
EXAMPLE = paths.ROOT / "examples" / "catalogue"


@pytest.fixture(scope="module")
def engine(index, build_cache):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield process


def _inputs(base, repository, pin, **extra):
    return {"image": base, "pip": [pin], "repository": repository, "env_name": "train", **extra}


def _read(repository: str, read):
    store = open_store(parse_repository(repository))
    try:
        return read(store)
    finally:
        store.close()


def _versions(repository: str) -> list[tuple[str, tuple[str, ...]]]:
    return _read(repository, lambda store: [(v.version, v.labels) for v in reads.versions(store, "train")])


def test_version_moves_on_a_pin_stays_on_metadata_labels_follow_and_destroy_keeps_them(engine, registry, base_image):
    stack, provider = Stack(engine, type_token=TYPE), EnvironmentProvider()
    repository = f"{registry.host}/envs/catalogue-{os.getpid()}"
    created = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert created.op == "create" and (created.outputs["version"], created.outputs["labels"]) == ("1", ["latest"])

    same = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert same.op == "same"  # the output version is not an input asking for another version

    described = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0", description="now described"))
    assert described.op == "update" and described.outputs["version"] == "1"

    pinned = stack.up("train", provider, _inputs(base_image, repository, "six==1.17.0"))
    assert pinned.op == "update" and pinned.outputs["version"] == "2"

    labelled = stack.up("train", provider, _inputs(base_image, repository, "six==1.17.0", labels=["prod"]))
    assert labelled.op == "update" and labelled.outputs["labels"] == ["prod", "latest"] and labelled.outputs["cache_hit"]
    assert stack.up("train", provider, _inputs(base_image, repository, "six==1.17.0", labels=["prod"])).op == "same"

    assert stack.destroy("train").op == "delete"
    assert _versions(repository) == [("1", ()), ("2", ("prod", "latest"))]  # delete never removes versions


def test_preview_says_which_version_up_will_register_and_builds_nothing(engine, registry, base_image):
    stack, provider = Stack(engine, type_token=TYPE), EnvironmentProvider()
    repository = f"{registry.host}/envs/preview-{os.getpid()}"
    planned = stack.preview("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert planned.op == "create" and planned.outputs["version_plan"] == "will register train:1"
    assert planned.outputs["name"] == "train" and "version" not in planned.outputs  # unknown in preview until up takes it
    assert "mlenv: will register train:1\n" in engine.stderr  # the provider's log: shown by pulumi preview
    assert _read(repository, lambda store: store.list_tags()) == []  # preview read the catalogue, built and registered nothing

    created = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert created.outputs["version"] == "1" and "version_plan" not in created.outputs  # a plan is never an output

    described = stack.preview("train", provider, _inputs(base_image, repository, "six==1.16.0", description="described"))
    assert described.op == "update" and described.outputs["version_plan"] == "train:1 already holds this definition"
    assert described.outputs["version"] == "1"  # known in preview: this definition's version cannot change
    pinned = stack.preview("train", provider, _inputs(base_image, repository, "six==1.17.0"))
    assert pinned.op == "update" and pinned.outputs["version_plan"] == "will register train:2" and "version" not in pinned.outputs

    taken = stack.preview("train", provider, _inputs(base_image, repository, "six==1.17.0", version="1"))
    assert taken.op == "failed" and [prop for prop, _ in taken.failures] == ["version"]
    assert "train:1 already holds definition" in taken.error and created.outputs["definition_hash"] in taken.error
    assert stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0", description="described")).outputs["version"] == "1"


def test_preview_goes_on_when_the_registry_cannot_be_read_and_nameless_ones_plan_their_hash_name(engine, base_image):
    stack, provider = Stack(engine, type_token=TYPE), EnvironmentProvider()
    unreachable = "127.0.0.1:9/envs/nowhere"  # the discard port: nothing listens there
    planned = stack.preview("train", provider, _inputs(base_image, unreachable, "six==1.16.0"))
    assert planned.op == "create" and planned.outputs["version_plan"].startswith(f"the catalogue of {unreachable} could not be read (cannot connect")
    assert planned.outputs["version_plan"].endswith("; up registers a version of train all the same")
    nameless = {k: v for k, v in _inputs(base_image, unreachable, "six==1.16.0").items() if k != "env_name"}
    planned = stack.preview("anonymous", provider, nameless)
    assert planned.op == "create" and planned.outputs["version_plan"].endswith(f"up registers a version of anon-{planned.outputs['definition_hash'][:12]} all the same")


def test_a_label_left_out_of_labels_is_removed_where_it_still_names_the_resources_image(engine, registry, base_image, index):
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import build
    from mlenv.resolve.index import IndexSettings

    stack, provider = Stack(engine, type_token=TYPE), EnvironmentProvider()
    repository = f"{registry.host}/envs/unlabel-{os.getpid()}"
    first = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0", labels=["prod", "staging"]))
    assert first.outputs["labels"] == ["prod", "staging", "latest"]
    other = build(from_mapping({"name": "train", "image": base_image, "pip": ["six==1.17.0"]}), repository, index=IndexSettings(index_url=index.url))
    _read(repository, lambda store: reads.set_label(store, "train", other.version, "staging"))  # someone else moved staging: theirs now

    assert stack.preview("train", provider, _inputs(base_image, repository, "six==1.16.0")).op == "update"
    dropped = stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert dropped.op == "update" and dropped.outputs["labels"] == [] and dropped.outputs["cache_hit"]
    assert _versions(repository) == [("1", ()), ("2", ("staging", "latest"))]  # prod removed, staging left where it was moved
    assert "mlenv: labels removed from train: prod; left where someone moved them since: staging" in engine.stderr
    assert stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0")).op == "same"


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: dict):
        self.resources, self.stack_outputs = [], stack_outputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        if args.typ == "pulumi:pulumi:StackReference":
            return f"{args.name}-id", {**args.inputs, "outputs": self.stack_outputs}
        return f"{args.name}-id", dict(args.inputs, version="3", labels=["prod", "latest"])

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def _run(program: str, mocks: _Mocks, config: dict) -> dict:
    pulumi.runtime.set_mocks(mocks, project="mlenv-catalogue", stack="test", preview=False)
    for key, value in config.items():
        pulumi.runtime.set_config(f"mlenv-catalogue:{key}", value)
    return runpy.run_path(str(EXAMPLE / program / "__main__.py"), run_name="__main__")


@pulumi.runtime.test
def test_the_environments_stack_asks_for_its_labels():
    mocks = _Mocks({})
    program = _run("environments", mocks, {"repository": "127.0.0.1:5000/ml/envs", "labels": '["prod"]'})

    def check(_):
        (train,) = [r for r in mocks.resources if r.typ == TYPE]
        assert train.inputs["labels"] == ["prod"] and train.inputs["env_name"] == "train"
        assert train.inputs["pip"] == ["six==1.16.0"]

    return program["train"].urn.apply(check)


@pytest.fixture
def prod_and_latest(registry, base_image, index) -> tuple[str, str]:
    """`train` with two versions in the real registry, the first labelled prod: (repository, its digest)."""
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import build
    from mlenv.resolve.index import IndexSettings

    repository, settings = f"{registry.host}/ml/training-{os.getpid()}", IndexSettings(index_url=index.url)
    first = build(from_mapping({"name": "train", "image": base_image, "pip": ["six==1.16.0"]}), repository, index=settings, labels=("prod",))
    build(from_mapping({"name": "train", "image": base_image, "pip": ["six==1.17.0"]}), repository, index=settings)
    return repository, first.digest


@pulumi.runtime.test
def test_the_training_stack_reads_prod_through_the_stack_reference_and_get_environment(prod_and_latest):
    repository, prod_digest = prod_and_latest
    mocks = _Mocks({"repository": repository, "image_ref": f"{repository}@sha256:" + "0" * 64})
    program = _run("training", mocks, {"environmentsStack": "org/mlenv-environments/dev"})

    def check(found):
        assert (found.version, found.image_ref, found.labels) == ("1", f"{repository}@{prod_digest}", ["prod"])
        assert [r.typ for r in mocks.resources] == ["pulumi:pulumi:StackReference"]

    return program["prod"].apply(check)


def test_get_environment_refuses_an_unknown_label_in_one_line(prod_and_latest):
    import pulumi_mlenv as mlenv

    with pytest.raises(pulumi.RunError, match=r"^mlenv.get_environment: label: train has no label staging .*Fix: use one of latest, prod"):
        mlenv.get_environment(prod_and_latest[0], "train", label="staging")


def test_an_unchanged_resource_previews_without_asking_the_registry(engine, registry, base_image):
    """The no-op per resource stays cheap: the plan is read only when something changed."""
    stack, provider = Stack(engine, type_token=TYPE), EnvironmentProvider()
    repository = f"{registry.host}/envs/unchanged-{os.getpid()}"
    assert stack.up("train", provider, _inputs(base_image, repository, "six==1.16.0")).outputs["version"] == "1"
    said = len(engine.stderr)
    again = stack.preview("train", provider, _inputs(base_image, repository, "six==1.16.0"))
    assert again.op == "same" and "already holds" not in engine.stderr[said:] and "will register" not in engine.stderr[said:]
    described = stack.preview("train", provider, _inputs(base_image, repository, "six==1.16.0", description="now described"))
    assert described.op == "update" and "mlenv: train:1 already holds this definition" in engine.stderr[said:]
