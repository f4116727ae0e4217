"""The catalogue (versions, labels, archive, the carried definition) in both stores: the real
registry (Distribution 2.8, which has no referrers API) and an OCI layout."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import pytest

from mlenv.catalogue import artifact, reads, tags as scheme, versions as versions_module
from mlenv.catalogue.versions import register
from mlenv.diagnostics.errors import SpecError
from mlenv.digests import digest_of
from mlenv.oci.image import DEFINITION_HASH
from mlenv.oci.layout import LayoutStore
from mlenv.oci.mediatypes import OCI_MANIFEST
from mlenv.oci.registry import RegistryStore

pytestmark = pytest.mark.integration
WRITERS, RUNS = 8, 10


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch):
    monkeypatch.setenv("MLENV_CATALOGUE_SETTLE", "0.3")


@pytest.fixture(params=["registry", "layout"])
def store_spec(request, tmp_path) -> tuple[str, str]:
    """(kind, where) so a child process can open the same store."""
    if request.param == "registry":
        registry = request.getfixturevalue("registry")
        return "registry", f"{registry.host}|catalogue/{request.node.name.replace('[', '-').rstrip(']')}-{os.getpid()}"
    return "layout", str(tmp_path / "layout")


def _open(spec: tuple[str, str]):
    kind, where = spec
    if kind == "registry":
        host, repository = where.split("|")
        return RegistryStore(host, repository)
    return LayoutStore(where)


def _image(store, seed: str) -> tuple[str, str, bytes]:
    """A tiny image of our own with the definition-hash annotation a build gives it."""
    definition_hash = hashlib.sha256(seed.encode()).hexdigest()
    config = json.dumps({"seed": seed}).encode()
    store.put_blob_bytes(digest_of(config), config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config), "size": len(config)},
                           "layers": [], "annotations": {DEFINITION_HASH: definition_hash}}).encode()
    store.put_manifest(digest_of(manifest), manifest, OCI_MANIFEST)
    store.put_manifest(f"mlenv-{definition_hash[:12]}", manifest, OCI_MANIFEST)
    return digest_of(manifest), definition_hash, manifest


def _register_one(job) -> tuple[str, str]:
    """One writer (a process of the pool). Its error comes back as text: an exception the pool
    cannot unpickle would hang `map`."""
    spec, seed = job
    store = _open(spec)
    digest, definition_hash, _ = _image(store, seed)
    try:
        return definition_hash, register(store, "train", digest=digest, definition_hash=definition_hash).version
    except Exception as error:  # noqa: BLE001 - reported by the test, below
        return definition_hash, f"error: {error}"


def test_versions_increment_reuse_and_stay_immutable(store_spec):
    store = _open(store_spec)
    first, second = _image(store, "a"), _image(store, "b")
    assert register(store, "train", digest=first[0], definition_hash=first[1]).version == "1"
    assert register(store, "train", digest=second[0], definition_hash=second[1]).version == "2"
    assert register(store, "train", digest=first[0], definition_hash=first[1]).version == "1"  # the same definition: its version
    with pytest.raises(SpecError) as refused:
        register(store, "train", digest=second[0], definition_hash=second[1], version="1")
    assert first[1] in str(refused.value) and second[1] in str(refused.value)
    assert register(store, "train", digest=second[0], definition_hash=second[1], version="7").version == "7"
    assert [(v.version, v.labels) for v in reads.versions(store, "train")] == [("1", ()), ("2", ()), ("7", ("latest",))]
    assert store.get_manifest("train.v1")[0] == first[2]  # the version tag is the image itself: pullable
    reads.set_label(store, "train", "2", "prod")  # 2 and 7 hold one image: the label belongs to the higher
    assert [v.labels for v in reads.versions(store, "train")] == [(), (), ("prod", "latest")]


def test_a_number_someone_claimed_is_never_taken_again(store_spec):
    store = _open(store_spec)
    other, ours = _image(store, "killed-writer"), _image(store, "ours")
    versions_module.put_marker(store, scheme.claim_tag("train", "1", other[1]), versions_module.RECORD_TYPE, {})  # claimed, never tagged
    assert register(store, "train", digest=ours[0], definition_hash=ours[1]).version == "2"


def test_registries_without_the_referrers_api_are_read_through_the_fallback_tag(registry):
    store = RegistryStore(registry.host, f"catalogue/referrers-{os.getpid()}")
    digest, _, manifest = _image(store, "referred")
    assert store.get_referrers(digest) is None  # Distribution 2.8: 404
    artifact.attach(store, manifest, {"image": "base:1"}, b"{}")
    assert artifact.carried(store, digest).definition == {"image": "base:1"}


def test_named_builds_register_unnamed_and_uncataloguable_ones_do_not(tmp_path, base_image):
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import build

    def built(variable: str, **metadata):
        lines = []
        spec = from_mapping({"image": base_image, "python": {"user_managed_dependencies": True}, "variables": {"V": variable}, **metadata})
        return build(spec, f"oci:{tmp_path / 'out'}", log=lines.append), lines

    assert built("a", name="train", version="auto")[0].version == "1"  # Azure ML's auto: the next number
    assert built("b", name="train", version="5")[0].version == "5"
    assert built("c")[0].version == ""
    result, log = built("d", name="my.env")
    assert result.version == "" and any(line.startswith("warning: not registered as a version: name: cannot be a catalogue name") for line in log)


def test_labels_archive_restore_and_latest(store_spec):
    store = _open(store_spec)
    one, two = _image(store, "one"), _image(store, "two")
    register(store, "serve", digest=one[0], definition_hash=one[1])
    register(store, "serve", digest=two[0], definition_hash=two[1])
    reads.set_label(store, "serve", "1", "prod")
    assert reads.resolve(store, "serve", label="prod").version == "1"
    assert reads.resolve(store, "serve").version == "2"
    reads.set_archived(store, "serve", "2", True)
    assert reads.resolve(store, "serve").version == "1"  # latest leaves an archived version
    assert reads.resolve(store, "serve", version="2").archived  # still there by version
    assert store.has_manifest(two[0]) and store.has_manifest("serve.v2")
    assert digest_of(store.get_manifest("serve.latest")[0]) == one[0]
    reads.set_archived(store, "serve", "2", False)
    assert reads.resolve(store, "serve").version == "2"
    with pytest.raises(SpecError, match="latest is kept by mlenv"):
        reads.set_label(store, "serve", "1", "latest")


def test_list_leaves_out_names_whose_versions_are_all_archived(store_spec):
    store = _open(store_spec)
    for name in ("a", "b"):
        image = _image(store, name)
        register(store, name, digest=image[0], definition_hash=image[1])
    reads.set_archived(store, "b", "1", True)
    assert reads.names(store) == ["a"]


def test_the_image_carries_its_definition_and_lock(store_spec):
    store = _open(store_spec)
    digest, _, manifest = _image(store, "carried")
    lock = b'{"base":"sha256:00","python":"3.11","wheels":[]}'
    artifact.attach(store, manifest, {"image": "base:1", "pip": ["numpy==2.0.0"]}, lock)
    artifact.attach(store, manifest, {"image": "base:1", "pip": ["numpy==2.0.0"]}, lock)  # idempotent
    found = artifact.carried(store, digest)
    assert found.definition == {"image": "base:1", "pip": ["numpy==2.0.0"]}
    assert found.lock_hash == hashlib.sha256(lock).hexdigest()
    index = json.loads(store.get_manifest(scheme.fallback_tag(digest))[0])
    assert [m["artifactType"] for m in index["manifests"]] == [artifact.ARTIFACT_TYPE]
    assert store.get_manifest(digest)[0] == manifest  # the image itself is untouched


def test_eight_parallel_writers_get_eight_versions_in_every_run(store_spec, monkeypatch):
    monkeypatch.setenv("MLENV_CATALOGUE_SETTLE", "1")  # the pool's processes inherit it; a loaded machine needs the margin
    spec = store_spec
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        for run in range(RUNS):
            name_spec = (spec[0], f"{spec[1]}-{run}")
            got = pool.map(_register_one, [(name_spec, f"run{run}-writer{w}") for w in range(WRITERS)], chunksize=1)
            assert not [v for _, v in got if v.startswith("error")], f"run {run}: {got}"
            versions = sorted(int(v) for _, v in got)
            assert len(set(versions)) == WRITERS, f"run {run}: {got}"
            listed = {v.definition_hash: v.version for v in reads.versions(_open(name_spec), "train")}
            assert listed == dict(got), f"run {run}: the catalogue lost a writer"
