"""Base images unlike `mlenv import-rootfs`'s default (one gzip layer, linux/amd64), in the real
registry: a single-platform image whose config says another platform is refused before anything is
installed, and one whose layers are zstd is read and published with its layers as they are."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.definition.reference import parse_reference
from mlenv.diagnostics.errors import BuildError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.oci import image as img
from mlenv.oci.mediatypes import OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST
from mlenv.oci.rootfs import import_rootfs
from mlenv.oci.store import open_store
from mlenv.pipeline import build
from testbed import services

pytestmark = pytest.mark.integration
ACCEPT = {"Accept": OCI_MANIFEST}
MAGIC = {b"\x1f\x8b": OCI_LAYER_GZIP, b"\x28\xb5\x2f\xfd": OCI_LAYER_ZSTD}


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


@pytest.fixture(scope="module")
def zstd_base(registry) -> str:
    """The cached debootstrap rootfs as a one-layer base compressed with zstd."""
    reference = f"{registry.host}/base/python-zstd:3.11-bookworm"
    import_rootfs(services.ensure_base_rootfs(), reference, zstd=True)
    return reference


def test_a_zstd_base_is_read_and_published_with_its_layer_as_it_is(registry, zstd_base, index_settings, tmp_path):
    base_manifest = httpx.get(f"{registry.url}/v2/base/python-zstd/manifests/3.11-bookworm", headers=ACCEPT).json()
    assert [layer["mediaType"] for layer in base_manifest["layers"]] == [OCI_LAYER_ZSTD]
    result = build(from_mapping({"image": zstd_base, "pip": ["six==1.16.0"]}), f"{registry.host}/envs/on-zstd", index=index_settings)
    manifest = httpx.get(f"{registry.url}/v2/envs/on-zstd/manifests/{result.digest}", headers=ACCEPT).json()
    assert manifest["layers"][0] == base_manifest["layers"][0]  # the same blob, still described as zstd
    for layer in manifest["layers"][1:]:  # ours: each described as what its bytes are
        head = httpx.get(f"{registry.url}/v2/envs/on-zstd/blobs/{layer['digest']}").content[:4]
        assert layer["mediaType"] == MAGIC[head[:2] if head[:2] == b"\x1f\x8b" else head]
    config = httpx.get(f"{registry.url}/v2/envs/on-zstd/blobs/{manifest['config']['digest']}").json()
    assert "VIRTUAL_ENV=/opt/env" in config["config"]["Env"]  # the base's Python was found in the zstd layer
    assert shutil.which("skopeo"), "skopeo is installed by scripts/setup-system.sh"
    inspected = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/envs/on-zstd:{result.tag}"],
                               capture_output=True, text=True, timeout=60)  # manifest and config, read as skopeo reads them
    assert inspected.returncode == 0, inspected.stderr
    seen = json.loads(inspected.stdout)
    assert seen["Layers"] == [layer["digest"] for layer in manifest["layers"]] and seen["Architecture"] == "amd64"
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/envs/on-zstd:{result.tag}"],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(raw.stdout)["layers"][0]["mediaType"] == OCI_LAYER_ZSTD
    copied = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.host}/envs/on-zstd:{result.tag}", f"oci:{tmp_path / 'copy'}:x"],
                            capture_output=True, text=True, timeout=120)  # every blob fetched and checked against its digest
    assert copied.returncode == 0, copied.stderr


def test_the_glibc_of_a_zstd_base_is_read_from_its_dpkg_status(registry, zstd_base):
    from mlenv.oci.base_image import base_glibc, resolve_base

    ref = parse_reference(zstd_base)
    store = open_store(ref)
    try:
        assert base_glibc(resolve_base(ref, store), store) == "2.36"  # bookworm's
    finally:
        store.close()


def test_verify_runs_in_an_image_on_a_zstd_base(registry, zstd_base, index_settings, docker_engine):
    definition = from_mapping({"image": zstd_base, "pip": ["six==1.16.0"], "verify": ["python -c 'import six; print(six.__version__)'"]})
    result = build(definition, f"{registry.host}/envs/on-zstd-verified", index=index_settings)
    assert result.tag in tags_of(registry, "envs/on-zstd-verified")


def test_a_base_layer_that_is_no_tar_is_one_error_naming_the_layer(registry, index_settings, tmp_path):
    garbage = tmp_path / "not-a-rootfs"
    garbage.write_bytes(b"PK\x03\x04 a zip, not a tar" * 100)
    base = f"{registry.host}/base/not-a-tar:1"
    import_rootfs(garbage, base)
    definition = from_mapping({"image": base, "pip": ["six==1.16.0"]})
    with pytest.raises(BuildError) as caught:
        build(definition, f"{registry.host}/envs/on-garbage", index=index_settings)
    assert caught.value.rule == "image.unreadable-layer"
    assert caught.value.headline.startswith(f"image: base image {base} has a layer that is no tar mlenv can read (sha256:")
    assert "application/vnd.oci.image.layer.v1.tar+gzip" in caught.value.headline
    assert tags_of(registry, "envs/on-garbage") == []
