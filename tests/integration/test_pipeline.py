"""The daemonless pipeline against a real registry and a real index (both on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from mlenv.diagnostics.errors import BuildError, SpecError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.pipeline import build
from mlenv.definition.load import from_mapping
from mlenv.resolve.index import IndexSettings

pytestmark = pytest.mark.integration


def spec(base, *pip, **variables):
    return from_mapping({"image": base, "pip": list(pip), "variables": variables})


def tags_of(registry, repository):
    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return [] if response.status_code == 404 else (response.json().get("tags") or [])


def test_build_then_cache_hit(registry, base_image, index_settings, build_cache):
    definition = spec(base_image, "numpy==1.26.4", "requests", "tqdm", OMP_NUM_THREADS="1")
    shutil.rmtree(build_cache / "blob-sources", ignore_errors=True)  # a cold push: no record to mount these layers from
    first = build(definition, f"{registry.host}/envs/quickstart", index=index_settings)
    second = build(definition, f"{registry.host}/envs/quickstart", index=index_settings)
    print(f"\ncold build {first.seconds:.2f}s, {first.bytes_pushed} bytes; cache hit {second.seconds * 1000:.1f} ms")
    assert not first.cache_hit and first.bytes_pushed > 10_000_000  # numpy's layer alone is larger
    assert second.cache_hit and second.bytes_pushed == 0
    assert second.image_ref == first.image_ref == f"{registry.host}/envs/quickstart@{first.digest}"
    assert "numpy==1.26.4" in first.packages and any(p.startswith("requests==") for p in first.packages)
    manifest = httpx.get(f"{registry.url}/v2/envs/quickstart/manifests/{first.tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert manifest.headers["docker-content-digest"] == first.digest
    assert manifest.json()["annotations"]["dev.mlenv.definition-hash"] == first.definition_hash


def test_base_layers_are_mounted_not_uploaded(registry, base_image, index_settings):
    result = build(spec(base_image, "six==1.16.0"), f"{registry.host}/envs/mounted", index=index_settings)
    base_layer = httpx.get(f"{registry.url}/v2/base/python/manifests/3.11-bookworm", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()["layers"][0]
    assert result.bytes_pushed < base_layer["size"]  # the base's bytes were not sent again


def test_two_empty_caches_give_the_same_digest(registry, base_image, index_settings, tmp_path, monkeypatch):
    definition = spec(base_image, "requests", "six==1.16.0", LANG="C.UTF-8")
    digests = []
    for attempt, target in enumerate((f"{registry.host}/envs/repro-a", f"oci:{tmp_path / 'layout'}")):
        monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / f"cache-{attempt}"))
        result = build(definition, target, index=index_settings)
        assert not result.cache_hit
        digests.append(result.digest)
    assert digests[0] == digests[1]


def test_one_pin_change_pushes_only_that_package(registry, base_image, index_settings):
    repository = f"{registry.host}/envs/onepin"
    old = build(spec(base_image, "numpy==1.26.4", "requests", "six==1.16.0"), repository, index=index_settings)
    new = build(spec(base_image, "numpy==1.26.4", "requests", "six==1.17.0"), repository, index=index_settings)
    unchanged = [layer for layer in old.layers if "six==" not in layer["created_by"]]
    unchanged_bytes = sum(layer["size"] for layer in unchanged)
    six_layer = next(layer for layer in new.layers if "six==1.17.0" in layer["created_by"])
    print(f"\none-pin change: pushed {new.bytes_pushed} bytes (six layer {six_layer['size']}), unchanged layers {unchanged_bytes} bytes")
    assert new.digest != old.digest
    assert new.bytes_pushed < unchanged_bytes
    assert new.bytes_pushed < six_layer["size"] + 20_000  # the layer + config + manifests


def test_image_layout_is_the_embedded_default(base_image, index_settings, tmp_path):
    layout = tmp_path / "images"
    result = build(spec(base_image, "six==1.16.0"), f"oci:{layout}", index=index_settings)
    index = json.loads((layout / "index.json").read_text())
    tagged = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}
    referrers = "sha256-" + result.digest.split(":")[1]  # the index of the artifact carrying the definition (catalogue/artifact.py)
    anonymous = [f"{result.name}.v1", f"{result.name}.v1.claim-{result.definition_hash[:16]}", f"{result.name}.latest"]  # no name: anon-<hash>:1
    assert set(tagged) == {result.tag, referrers, *anonymous} and tagged[result.tag] == tagged[f"{result.name}.v1"] == result.digest
    assert (layout / "blobs" / "sha256" / result.digest.split(":")[1]).exists()
    assert build(spec(base_image, "six==1.16.0"), f"oci:{layout}", index=index_settings).cache_hit


# -- bad input: one clear error, nothing tagged --------------------------------------------------

def _assert_nothing_tagged(registry, repository, definition):
    assert tag_for(definition_hash(definition)) not in tags_of(registry, repository)


def test_base_image_without_python(registry, nopython_image, index_settings):
    definition = spec(nopython_image, "six==1.16.0")
    with pytest.raises(BuildError, match=r"^image: base image .* has no Python 3 interpreter.*Fix: choose a base image with Python"):
        build(definition, f"{registry.host}/envs/nopython", index=index_settings)
    _assert_nothing_tagged(registry, "envs/nopython", definition)


def test_missing_base_image(registry, index_settings):
    with pytest.raises(BuildError, match=r"base image .*/base/absent:1 not found.*Fix: push the base image"):
        build(spec(f"{registry.host}/base/absent:1", "six"), f"{registry.host}/envs/absent", index=index_settings)


def test_sdist_only_package_without_build_backend_on_the_index_is_named(registry, base_image, tmp_path, monkeypatch):
    """An index that serves the sdist but not setuptools: the build is explained, nothing tagged."""
    import shutil

    from testbed import services

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))  # no wheel built (nor setuptools fetched) by another test
    folder = tmp_path / "packages"
    folder.mkdir()
    shutil.copy(services.ensure_wheelhouse() / "onlysdist-0.1.tar.gz", folder)
    server = services.start_pypiserver(folder, tmp_path / "server")
    try:
        definition = spec(base_image, "onlysdist==0.1")
        with pytest.raises(BuildError) as caught:
            build(definition, f"{registry.host}/envs/sdist-nobackend", index=IndexSettings(index_url=server.url))
    finally:
        server.stop()
    assert caught.value.rule == "resolution.sdist-build-failed"
    assert caught.value.headline.startswith("pip: onlysdist==0.1 has no wheel for the target, and building a wheel from its source failed")
    assert "setuptools" in caught.value.output
    _assert_nothing_tagged(registry, "envs/sdist-nobackend", definition)


def test_version_that_does_not_exist(registry, base_image, index_settings):
    with pytest.raises(BuildError) as caught:
        build(spec(base_image, "six==99.0"), f"{registry.host}/envs/nosuch", index=index_settings)
    assert caught.value.headline.startswith("pip: six==99.0 is not on the index (versions there: 1.16.0, 1.17.0)")
    assert "(closest to the requested one: 1.17.0)" in caught.value.fix


def test_unreachable_registry(base_image, index_settings):
    from testbed.services import free_port

    with pytest.raises(BuildError, match=r"^registry: cannot connect to the registry 127\.0\.0\.1:\d+.*Fix: check the repository host"):
        build(spec(base_image, "six==1.16.0"), f"127.0.0.1:{free_port()}/envs/x", index=index_settings)


def test_invalid_requirement_line(base_image):
    with pytest.raises(SpecError, match=r"^pip\[0\]: invalid requirement"):
        spec(base_image, "six=>1")


def test_wrong_credentials_are_refused_and_nothing_is_tagged(auth_registry, base_image, index_settings):
    from mlenv.oci.auth import Credentials

    definition = spec(base_image, "six==1.16.0")
    with pytest.raises(BuildError) as caught:
        build(definition, f"{auth_registry.host}/envs/private", Credentials("builder", "wrong"), index=index_settings)
    assert "unauthorized" in str(caught.value) and "registry_password" in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_basic_auth_push(auth_registry, base_image, index_settings):
    from mlenv.oci.auth import Credentials

    result = build(spec(base_image, "six==1.16.0"), f"{auth_registry.host}/envs/private", Credentials("builder", "s3cret-pass"), index=index_settings)
    assert not result.cache_hit and result.digest.startswith("sha256:")


def test_rebuild_downloads_no_wheel_again(registry, base_image, index_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    definition = spec(base_image, "requests==2.32.3", "six==1.16.0")
    build(definition, f"{registry.host}/envs/wheelcache-a", index=index_settings)
    wheels = sorted((tmp_path / "cache" / "wheels").rglob("*.whl"))
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in wheels}
    rebuilt = build(definition, f"{registry.host}/envs/wheelcache-b", index=index_settings)
    assert not rebuilt.cache_hit  # a new repository: the image is built and pushed again...
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in wheels} == before  # ...from cached wheels
    assert len(before) == len(rebuilt.packages)
