"""The definition hash: the identity of an environment (rules in docs/HASHING.md)."""

from __future__ import annotations

from mlenv.digests import canonical_json, sha256_hex
from mlenv.identity.canonical import canonical_definition
from mlenv.definition.model import EnvironmentSpec, builder_of

# Bumped whenever the builder would produce a different image from the same definition.
BUILDER_VERSION = "mlenv-oci/2"
DOCKER_BUILDER_VERSION = "mlenv-docker/2"
TAG_PREFIX = "mlenv-"


def definition_hash(spec: EnvironmentSpec) -> str:
    version = DOCKER_BUILDER_VERSION if builder_of(spec) == "docker" else BUILDER_VERSION
    payload = {"builder": version, "definition": canonical_definition(spec)}
    return sha256_hex(canonical_json(payload))


def tag_for(hash_hex: str) -> str:
    """A registry tag derived from the hash: 128 bits is collision-free in practice, and the
    manifest annotation carries the full hash, which the cache check compares."""
    return TAG_PREFIX + hash_hex[:32]
