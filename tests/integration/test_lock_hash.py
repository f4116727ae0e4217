"""The lock hash, one formula whichever builder built the image (docs/HASHING.md; the daemonless
builder adds who compiled its bytecode), in the manifest annotation and in the config label of
daemonless and Docker-built images alike."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def identity_of(registry, repository: str, digest: str) -> tuple[dict, dict]:
    """The manifest's annotations and the config's labels of a published image."""
    manifest = httpx.get(f"{registry.url}/v2/{repository}/manifests/{digest}", headers=ACCEPT).json()
    config = httpx.get(f"{registry.url}/v2/{repository}/blobs/{manifest['config']['digest']}").json()
    return manifest["annotations"], config["config"]["Labels"]


def documented_lock_hash(base_digest: str | None, python: str | None, wheels: list[list[str]], bytecode: str | None = None) -> str:
    """docs/HASHING.md: sha256 over the base digest, the Python version, each wheel's name, version,
    file name and sha256, and (daemonless) who compiled the bytecode, as canonical JSON."""
    payload = {"base": base_digest, "python": python, "wheels": wheels, **({"bytecode": bytecode} if bytecode else {})}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_both_builders_lock_the_same_wheels_and_the_daemonless_one_its_bytecode(registry, base_image, index_settings, wheelhouse, docker_engine):
    from mlenv.builders.bytecode import find_compiler

    definition = {"image": base_image, "pip": ["six==1.16.0"]}
    daemonless = build(from_mapping(definition), f"{registry.host}/envs/lock-oci", index=index_settings)
    docker = build(from_mapping({**definition, "builder": "docker"}), f"{registry.host}/envs/lock-docker", index=index_settings)
    assert not daemonless.cache_hit and not docker.cache_hit
    assert daemonless.definition_hash != docker.definition_hash  # two images...
    assert daemonless.packages == docker.packages == ["pip==24.3.1", "six==1.16.0"]  # ...the same wheels

    wheels = [[name, version, file.name, hashlib.sha256(file.read_bytes()).hexdigest()]
              for name, version, file in (("pip", "24.3.1", wheelhouse / "pip-24.3.1-py3-none-any.whl"), ("six", "1.16.0", wheelhouse / "six-1.16.0-py2.py3-none-any.whl"))]
    for result, repository, bytecode in ((daemonless, "envs/lock-oci", find_compiler("3.11").version), (docker, "envs/lock-docker", None)):
        annotations, labels = identity_of(registry, repository, result.digest)
        assert labels["dev.mlenv.lock-hash"] == annotations["dev.mlenv.lock-hash"] == result.lock_hash
        assert labels["dev.mlenv.definition-hash"] == annotations["dev.mlenv.definition-hash"] == result.definition_hash
        base_digest = annotations["org.opencontainers.image.base.digest"]
        assert result.lock_hash == documented_lock_hash(base_digest, "3.11", wheels, bytecode)
        assert build(from_mapping({**definition, **({"builder": "docker"} if result is docker else {})}), f"{registry.host}/{repository}",
                     index=index_settings).lock_hash == result.lock_hash  # a cache hit reads it back


def test_a_dockerfile_image_carries_its_lock_hash_in_the_config_too(registry, base_image, index_settings, docker_engine):
    """mlenv resolves nothing for a Dockerfile: its lock is the final FROM's digest alone."""
    result = build(from_mapping({"dockerfile": f"FROM {base_image}\nRUN echo locked > /etc/mlenv-lock\n"}), f"{registry.host}/envs/lock-dockerfile", index=index_settings)
    annotations, labels = identity_of(registry, "envs/lock-dockerfile", result.digest)
    assert labels["dev.mlenv.lock-hash"] == annotations["dev.mlenv.lock-hash"] == result.lock_hash
    assert result.lock_hash == documented_lock_hash(annotations["org.opencontainers.image.base.digest"], None, [])
