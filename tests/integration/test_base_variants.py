"""Base images unlike `mlenv import-rootfs`'s default (one gzip layer, linux/amd64), in the real
registry: a single-platform image whose config says another platform is refused before anything is
installed."""

from __future__ import annotations

import json

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.definition.reference import parse_reference
from mlenv.diagnostics.errors import BuildError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.oci import image as img
from mlenv.oci.mediatypes import OCI_MANIFEST
from mlenv.oci.store import open_store
from mlenv.pipeline import build

pytestmark = pytest.mark.integration


def retagged_with_platform(base_image: str, tag: str, **platform: str) -> str:
    """The test base's layers under a config that says another platform (a plain manifest, no index),
    written with our own store code beside the original."""
    ref = parse_reference(base_image)
    store = open_store(ref)
    try:
        manifest = json.loads(store.get_manifest(ref.reference)[0])
        config = json.loads(store.get_blob(manifest["config"]["digest"]))
        config_bytes = img.to_json({**config, **platform})
        store.put_blob_bytes(img.descriptor("", config_bytes)["digest"], config_bytes)
        data = img.to_json({**manifest, "config": img.descriptor(manifest["config"]["mediaType"], config_bytes)})
        store.put_manifest(tag, data, OCI_MANIFEST)
    finally:
        store.close()
    return f"{ref.repository}:{tag}"


def tags_of(registry, repository: str) -> list[str]:
    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return [] if response.status_code == 404 else (response.json().get("tags") or [])


@pytest.mark.parametrize(("platform", "named"), [({"architecture": "arm64", "variant": "v8"}, "linux/arm64/v8"),
                                                 ({"os": "windows"}, "windows/amd64")])
def test_a_single_platform_base_for_another_platform_is_refused_and_nothing_is_tagged(registry, base_image, index_settings, platform, named):
    base = retagged_with_platform(base_image, f"other-{named.replace('/', '-')}", **platform)
    definition = from_mapping({"image": base, "pip": ["six==1.16.0"]})
    with pytest.raises(BuildError) as caught:
        build(definition, f"{registry.host}/envs/other-platform", index=index_settings)
    error = caught.value
    assert error.rule == "image.wrong-architecture"
    assert error.headline.startswith(f"image: base image {base} is built for {named}, not linux/amd64")
    assert "use a base image built for linux/amd64, or pin the digest of a multi-platform index" in error.fix
    assert "docs/DIAGNOSTICS.md#image-wrong-architecture" in str(error)
    assert tag_for(definition_hash(definition)) not in tags_of(registry, "envs/other-platform")


def test_a_user_managed_base_for_another_platform_is_refused_too(registry, base_image, index_settings):
    """Nothing is installed, but the image would be published under a definition saying linux/amd64."""
    base = retagged_with_platform(base_image, "other-arm64-byoc", architecture="arm64")
    definition = from_mapping({"image": base, "python": {"user_managed_dependencies": True}})
    with pytest.raises(BuildError, match=r"^image: base image .* is built for linux/arm64, not linux/amd64"):
        build(definition, f"{registry.host}/envs/other-platform-byoc", index=index_settings)
    assert tags_of(registry, "envs/other-platform-byoc") == []


@pytest.mark.parametrize("platform", [{"architecture": "amd64", "variant": "v3"}, {"architecture": "x86_64"}], ids=["amd64-v3", "x86_64"])
def test_an_amd64_variant_and_a_config_naming_x86_64_are_accepted(registry, base_image, index_settings, platform):
    base = retagged_with_platform(base_image, "-".join(platform.values()), **platform)
    result = build(from_mapping({"image": base, "pip": ["six==1.16.0"]}), f"{registry.host}/envs/amd64-variant", index=index_settings)
    assert result.tag in tags_of(registry, "envs/amd64-variant")
