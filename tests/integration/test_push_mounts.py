"""Publishing against the real registry: our own layers mounted into a second repository from where
the cache records them (and uploaded when the record is stale), several blobs in flight with the
biggest first, and uploads that start while the builder still packs."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import replace

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import RegistryError
from mlenv.oci import blob_sources
from mlenv.oci import image as img
from mlenv.oci.layers import Layer
from mlenv.oci.mediatypes import OCI_MANIFEST
from mlenv.oci.publish import publish
from mlenv.oci.registry import RegistryStore
from mlenv.oci.uploads import BlobUploads, push_concurrency
from mlenv.pipeline import build
from testbed.fault_proxy import Rule

pytestmark = pytest.mark.integration
UPLOADS = "/blobs/uploads/"
PUSHED = re.compile(r"pushed (\d+) bytes \((\d+) uploaded, (\d+) mounted, (\d+) already there\)")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: no other test's records of where blobs were pushed."""
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))


def _build(host: str, base_image: str, registry, repository: str, index_settings, note: str):
    spec = from_mapping({"image": base_image.replace(registry.host, host), "pip": ["six==1.16.0"], "variables": {"NOTE": note}})
    lines: list[str] = []
    result = build(spec, f"{host}/{repository}", index=index_settings, log=lines.append)
    return result, _pushed(lines)


def _pushed(lines: list[str]) -> dict[str, int]:
    """The build log's report of the push, as numbers."""
    pushed = next(PUSHED.search(line) for line in lines if PUSHED.search(line))
    return dict(zip(("bytes", "uploaded", "mounted", "present"), map(int, pushed.groups())))


def _blobs(registry, repository: str, digest: str) -> list[str]:
    manifest = httpx.get(f"{registry.url}/v2/{repository}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).json()
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def test_a_second_repository_mounts_every_blob_and_uploads_none(own_cache, fault_proxy, registry, base_image, index_settings):
    first, _ = _build(fault_proxy.host, base_image, registry, "mounts/a", index_settings, "mounts")
    fault_proxy.set_rules()  # counts from here: the second push only
    second, report = _build(fault_proxy.host, base_image, registry, "mounts/b", index_settings, "mounts")
    blobs = _blobs(registry, "mounts/b", second.digest)
    assert second.digest == first.digest and not second.cache_hit
    assert report == {"bytes": report["bytes"], "uploaded": 0, "mounted": len(blobs), "present": 0}
    # no byte of the image uploaded; the only PUTs are the referrer artifact's three small blobs (its empty
    # config, the definition, the lock: catalogue/artifact.py), which publish does not mount
    assert fault_proxy.count("PATCH", UPLOADS) == 0 and fault_proxy.count("PUT", UPLOADS) == 3, "no image blob uploaded"
    assert fault_proxy.count("POST", UPLOADS, "forwarded 201") == len(blobs), "every blob mounted"
    assert second.bytes_pushed == report["bytes"] < 4096, "only the manifest (by digest, then the tag) was sent"
    assert all(httpx.head(f"{registry.url}/v2/mounts/b/blobs/{d}").status_code == 200 for d in blobs)


def test_a_blob_deleted_from_the_recorded_repository_is_uploaded_and_forgotten(own_cache, fault_proxy, registry, base_image, index_settings):
    first, _ = _build(fault_proxy.host, base_image, registry, "mounts/gone-a", index_settings, "gone")
    ours = first.layers[-1]["digest"]  # the six layer
    assert httpx.delete(f"{registry.url}/v2/mounts/gone-a/blobs/{ours}").status_code == 202
    second, report = _build(fault_proxy.host, base_image, registry, "mounts/gone-b", index_settings, "gone")
    assert report["uploaded"] == 1 and report["mounted"] == len(_blobs(registry, "mounts/gone-b", second.digest)) - 1
    assert httpx.head(f"{registry.url}/v2/mounts/gone-b/blobs/{ours}").status_code == 200
    assert blob_sources.repositories_on(fault_proxy.host, ours) == ["mounts/gone-b"], "the stale record is forgotten"


def test_a_record_on_another_host_is_not_mounted_from(own_cache, fault_proxy, registry, base_image, index_settings):
    """The proxy fronts the same registry, so a mount from the other host's repository would even
    succeed: only the host in the record keeps it from being tried."""
    first, _ = _build(registry.host, base_image, registry, "mounts/host-a", index_settings, "host")
    second, report = _build(fault_proxy.host, base_image, registry, "mounts/host-b", index_settings, "host")
    base_layers = len(_blobs(registry, "mounts/host-b", second.digest)) - len(second.layers) - 1
    assert report["uploaded"] == len(second.layers) + 1 and report["mounted"] == base_layers, "ours and the config uploaded, the base's mounted"
    assert blob_sources.repositories_on(registry.host, first.layers[-1]["digest"]) == ["mounts/host-a"]


# -- the pool, on layers of our own making ------------------------------------------------------
class Watched(RegistryStore):
    """The real store, noting which uploads run at once and in which order they start."""

    def __init__(self, *args, fail: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.started: list[str] = []
        self.running = self.most = 0
        self.fail = fail
        self._watch = threading.Lock()

    def put_blob_file(self, digest, path):
        with self._watch:
            self.started.append(digest)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if digest == self.fail:
                raise RegistryError("registry", "injected failure", "none")
            super().put_blob_file(digest, path)
        finally:
            with self._watch:
                self.running -= 1


def _layers(tmp_path, sizes: list[int]) -> list[Layer]:
    layers = []
    for number, size in enumerate(sizes):
        path = tmp_path / f"layer-{number}"
        path.write_bytes(os.urandom(size))
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        layers.append(Layer(path, digest, digest, size, f"layer {number}"))
    return layers


def _publish(store, layers, tag: str, concurrency: int):
    config = img.to_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}})
    manifest = img.build_manifest(None, config, layers, {})
    with BlobUploads(store, concurrency) as uploads:
        return publish(store, base=None, base_store=None, layers=layers, config=config, manifest=manifest, tag=tag, uploads=uploads)


def test_blobs_go_several_at_a_time(own_cache, fault_proxy, tmp_path):
    fault_proxy.set_rules(Rule("delay", "PUT", UPLOADS, delay=0.4, times=100))  # each upload lasts: they overlap
    store = Watched(fault_proxy.host, "pool/several")
    report = _publish(store, _layers(tmp_path, [1000 * (n + 1) for n in range(6)]), "t", concurrency=3)
    assert store.most == 3 and report.blobs_uploaded == 7  # six layers and the config
    assert store.has_manifest("t")


def test_one_at_a_time_the_biggest_goes_first(own_cache, registry, tmp_path):
    layers = _layers(tmp_path, [3000, 9000, 1000, 5000])
    store = Watched(registry.host, "pool/order")
    _publish(store, layers, "t", concurrency=1)
    assert store.started == [layer.digest for layer in sorted(layers, key=lambda layer: -layer.size)] and store.most == 1


def test_a_failed_blob_leaves_no_manifest_and_no_tag(own_cache, registry, tmp_path):
    layers = _layers(tmp_path, [2000, 4000, 6000])
    store = Watched(registry.host, "pool/failed", fail=layers[1].digest)
    with pytest.raises(RegistryError, match="injected failure"):
        _publish(store, layers, "t", concurrency=2)
    manifest = img.build_manifest(None, b"", layers, {})
    assert not store.has_manifest("t") and store.get_manifest(img.descriptor("", manifest)["digest"]) is None


def test_uploads_start_while_the_builder_still_packs(own_cache, registry, base_image, index_settings, monkeypatch):
    """The builder is held before it packs the wheel's layer until a push to the target has begun
    (the base's layers or the venv layer): without the hooks, the push would only begin after the
    last layer and this waits out."""
    from mlenv.builders import pip_layers

    pushing, held = threading.Event(), []
    real_has_blob, real_package_job = RegistryStore.has_blob, pip_layers.package_job

    def has_blob(store, digest):
        if store.repository == "overlap/env":
            pushing.set()
        return real_has_blob(store, digest)

    def package_job(*args, **kwargs):
        job = real_package_job(*args, **kwargs)
        return replace(job, fill=lambda tree: (held.append(pushing.wait(timeout=20)), job.fill(tree)))

    monkeypatch.setattr(RegistryStore, "has_blob", has_blob)
    monkeypatch.setattr(pip_layers, "package_job", package_job)
    spec = from_mapping({"image": base_image, "pip": ["six==1.16.0"], "variables": {"NOTE": "overlap"}})
    result = build(spec, f"{registry.host}/overlap/env", index=index_settings)
    assert held and all(held) and not result.cache_hit  # six and the venv's pip, each packed after a push began


def test_the_base_layers_go_while_the_builder_resolves(own_cache, fault_proxy, registry, base_image, index_settings, monkeypatch):
    """The base is read through another host (the proxy's) than the target's, so its layers are
    downloaded and uploaded, not mounted: that starts before the builder packs its first layer."""
    from mlenv.builders import pip_layers

    base_layers = set(_blobs(registry, "base/python", base_image.rsplit(":", 1)[1])[1:])
    uploading, held = threading.Event(), []
    real_put, real_venv_job = RegistryStore.put_blob_file, pip_layers.venv_job

    def put_blob_file(store, digest, path):
        if digest in base_layers:
            uploading.set()
        return real_put(store, digest, path)

    def venv_job(*args, **kwargs):
        job = real_venv_job(*args, **kwargs)
        return replace(job, fill=lambda tree: (held.append(uploading.wait(timeout=30)), job.fill(tree)))

    monkeypatch.setattr(RegistryStore, "put_blob_file", put_blob_file)
    monkeypatch.setattr(pip_layers, "venv_job", venv_job)
    spec = from_mapping({"image": base_image.replace(registry.host, fault_proxy.host), "pip": ["six==1.16.0"], "variables": {"NOTE": "base early"}})
    lines: list[str] = []
    build(spec, f"{registry.host}/overlap/base", index=index_settings, log=lines.append)
    assert held and all(held) and _pushed(lines)["uploaded"] >= len(base_layers)


def test_the_concurrency_setting_is_checked(monkeypatch):
    monkeypatch.setenv("MLENV_PUSH_CONCURRENCY", "8")
    assert push_concurrency() == 8
    for bad in ("0", "many", "33"):
        monkeypatch.setenv("MLENV_PUSH_CONCURRENCY", bad)
        with pytest.raises(RegistryError) as caught:
            push_concurrency()
        assert caught.value.where == "MLENV_PUSH_CONCURRENCY" and "1 to 32" in caught.value.fix
