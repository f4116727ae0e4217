"""A curated environment through the provider as the engine drives it (gRPC): preview shows the
version `@latest` resolves to, `up` builds it, and a new version shipped under `@latest` is a change
preview shows and up rebuilds. The catalogue is a site's own ($MLENV_CURATED_DIR), on the test base."""

from __future__ import annotations

import os

import pytest

from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"


def _version(site, number: int, base: str, pin: str) -> None:
    (site / "team-six").mkdir(parents=True, exist_ok=True)
    (site / "team-six" / f"{number}.yml").write_text(f"image: {base}\npip: [{pin}]\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory, base_image):
    folder = tmp_path_factory.mktemp("site-catalogue")
    _version(folder, 1, base_image, "six==1.16.0")
    return folder


@pytest.fixture(scope="module")
def stack(site, index, build_cache):
    env = {"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache), "MLENV_CURATED_DIR": str(site)}
    with ProviderProcess(env=env) as process:
        yield Stack(process, type_token=TYPE)


def test_preview_names_the_version_up_builds_and_a_new_version_is_a_rebuild(stack, site, registry, base_image):
    provider, repository = EnvironmentProvider(), f"{registry.host}/envs/curated-{os.getpid()}"
    inputs = {"curated": "mlenv:team-six@latest", "repository": repository}
    preview = stack.preview("six", provider, inputs)
    assert preview.op == "create" and preview.checked_inputs["curated"] == "mlenv:team-six:1"

    created = stack.up("six", provider, inputs)
    assert created.op == "create" and created.outputs["packages"] == ["pip==24.3.1", "six==1.16.0"]
    assert stack.up("six", provider, inputs).op == "same"

    _version(site, 2, base_image, "six==1.17.0")  # a new version shipped: @latest moves
    moved = stack.preview("six", provider, inputs)
    assert moved.op in ("update", "replace") and moved.checked_inputs["curated"] == "mlenv:team-six:2"
    assert stack.state["six"]["inputs"]["curated"] == "mlenv:team-six:1"  # the engine shows the input's change: :1 => :2
    rebuilt = stack.up("six", provider, inputs)
    assert rebuilt.outputs["packages"] == ["pip==24.3.1", "six==1.17.0"]
    assert rebuilt.outputs["definition_hash"] != created.outputs["definition_hash"]


def test_a_field_beside_the_reference_fails_preview_naming_it(stack, registry):
    inputs = {"curated": "mlenv:team-six:1", "pip": ["numpy"], "repository": f"{registry.host}/envs/curated-bad"}
    preview = stack.preview("bad", EnvironmentProvider(), inputs)
    assert preview.op == "failed"
    assert [reason.split(" (got")[0] for _, reason in preview.failures] == ["curated: a curated environment cannot be combined with pip"]
