"""Docker Hub short names and registry mirrors, against a real registry serving as the mirror: this
machine cannot reach Docker Hub, as an air-gapped site cannot."""

from __future__ import annotations

import time

import pytest

from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import BuildError, RegistryError
from mlenv.identity.hashing import definition_hash
from mlenv.oci.rootfs import import_rootfs
from mlenv.pipeline import build
from testbed import services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub_python(registry) -> str:
    """The base image where a Docker Hub mirror keeps `python:3.11-bookworm`: library/python."""
    return import_rootfs(services.ensure_base_rootfs(), f"{registry.host}/library/python:3.11-bookworm")


def test_a_docker_hub_short_name_builds_through_a_mirror(monkeypatch, registry, hub_python, index_settings):
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", f"http://{registry.host}")
    spec = from_mapping({"image": "python:3.11-bookworm", "pip": ["six==1.16.0"]})
    lines: list[str] = []
    result = build(spec, f"{registry.host}/envs/from-hub", index=index_settings, log=lines.append)
    assert result.packages == ["pip==24.3.1", "six==1.16.0"] and not result.cache_hit
    assert result.definition_hash == definition_hash(from_mapping({"image": "python:3.11-bookworm", "pip": ["six==1.16.0"]}))
    assert any(line.startswith(f"base docker.io/library/python:3.11-bookworm ({hub_python[:19]})") for line in lines), lines


def test_an_unreachable_mirror_is_passed_over_for_the_next(monkeypatch, registry, hub_python, index_settings):
    closed = f"127.0.0.1:{services.free_port()}"
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", f"http://{closed}, {registry.host}")
    spec = from_mapping({"image": "docker.io/library/python:3.11-bookworm", "pip": ["six==1.16.0"]})
    result = build(spec, f"{registry.host}/envs/second-mirror", index=index_settings)
    assert result.packages == ["pip==24.3.1", "six==1.16.0"]


def test_an_image_on_no_mirror_and_no_hub_is_one_error_naming_both(monkeypatch, registry):
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", f"http://{registry.host}")
    spec = from_mapping({"image": "pytorch/pytorch:2.0-absent", "pip": ["six==1.16.0"]})
    started = time.monotonic()
    with pytest.raises((BuildError, RegistryError)) as caught:
        build(spec, f"{registry.host}/envs/absent")
    assert time.monotonic() - started < 30
    headline = caught.value.headline
    assert headline.startswith(f"image: docker.io/pytorch/pytorch:2.0-absent is not on the registry mirrors ({registry.host}: each does not hold it), "
                               "and Docker Hub failed too: cannot connect to the registry docker.io"), headline
    assert "push it to a mirror as pytorch/pytorch:2.0-absent" in headline


def test_without_mirrors_a_short_name_goes_to_docker_hub(monkeypatch, registry):
    """What build refused before ("must start with a registry host") is now a pull from Docker Hub,
    which fails here as any unreachable registry does."""
    monkeypatch.delenv("MLENV_REGISTRY_MIRRORS", raising=False)
    spec = from_mapping({"image": "python:3.11-bookworm", "pip": ["six==1.16.0"]})
    with pytest.raises((BuildError, RegistryError)) as caught:
        build(spec, f"{registry.host}/envs/no-mirror")
    assert "cannot connect to the registry docker.io" in caught.value.headline
