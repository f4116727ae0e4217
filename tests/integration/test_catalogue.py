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


def test_named_builds_register_unnamed_ones_get_a_hash_name_and_uncataloguable_ones_do_not(tmp_path, base_image):
    from mlenv.definition.load import from_mapping
    from mlenv.identity.hashing import definition_hash
    from mlenv.pipeline import build

    def built(variable: str, **metadata):
        lines = []
        spec = from_mapping({"image": base_image, "python": {"user_managed_dependencies": True}, "variables": {"V": variable}, **metadata})
        return build(spec, f"oci:{tmp_path / 'out'}", log=lines.append), lines, definition_hash(spec)

    assert built("a", name="train", version="auto")[0].version == "1"  # Azure ML's auto: the next number
    assert built("b", name="train", version="5")[0].version == "5"
    anonymous, log, hash_hex = built("c", version="3")
    assert (anonymous.name, anonymous.version, anonymous.labels) == (f"anon-{hash_hex[:12]}", "1", ["latest"])
    assert f"warning: version 3 is ignored: an environment without a name is registered as anon-{hash_hex[:12]}, version 1" in log
    again = built("c")[0]
    assert again.cache_hit and (again.name, again.version) == (anonymous.name, "1")  # the same hash keeps its version
    result, log, _ = built("d", name="my.env")
    assert (result.name, result.version) == ("", "") and any(line.startswith("warning: not registered as a version: name: cannot be a catalogue name") for line in log)
    result, log, _ = built("e", name="anon-0123456789ab")  # the anonymous names are reserved
    assert result.version == "" and any("is reserved: anon-<12 hex digits>" in line for line in log)
    store = LayoutStore(str(tmp_path / "out"))
    assert reads.names(store) == ["train"]  # anonymous environments are not listed
    assert reads.resolve(store, anonymous.name).digest == reads.resolve(store, anonymous.name, version="1").digest == anonymous.digest


def test_the_plan_says_what_register_will_do_from_one_listing(store_spec):
    store = _open(store_spec)
    first, second = _image(store, "plan-a"), _image(store, "plan-b")
    assert str(versions_module.plan(store, "train", first[1])) == "will register train:1"
    register(store, "train", digest=first[0], definition_hash=first[1])
    assert str(versions_module.plan(store, "train", first[1])) == "train:1 already holds this definition"
    assert str(versions_module.plan(store, "train", second[1])) == "will register train:2"
    assert str(versions_module.plan(store, "train", second[1], "7")) == "will register train:7"
    with pytest.raises(SpecError) as refused:  # what register would refuse, refused in preview
        versions_module.plan(store, "train", second[1], "1")
    assert first[1] in str(refused.value) and second[1] in str(refused.value)
    versions_module.put_marker(store, scheme.claim_tag("train", "1", second[1]), versions_module.RECORD_TYPE, {})  # a writer that lost train:1
    assert versions_module.plan(store, "train", first[1]).held  # the version tag decides between the two claims
    assert not versions_module.plan(store, "train", second[1]).held


def _two_versions(store, name: str, seed: str, prod_on: str = "1"):
    """`name`:1 and :2 of two tiny images, prod on `prod_on`: the images."""
    images = _image(store, f"{seed}-one"), _image(store, f"{seed}-two")
    for image in images:
        register(store, name, digest=image[0], definition_hash=image[1])
    reads.set_label(store, name, prod_on, "prod")
    return images


def test_a_removed_label_is_gone_from_reads_and_pulls_and_can_be_set_again(store_spec):
    store = _open(store_spec)
    one, _ = _two_versions(store, "serve", "rm")
    with pytest.raises(SpecError, match=r"serve@prod is serve:1, not serve:2"):
        reads.remove_label(store, "serve", "prod", version="2")
    assert reads.remove_label(store, "serve", "prod").labels == ()
    with pytest.raises(SpecError, match="serve has no label prod"):
        reads.resolve(store, "serve", label="prod")
    marker = json.loads(store.get_manifest("serve.prod")[0])  # the tag stays (Distribution cannot delete a tag), on no image
    assert marker["artifactType"] == reads.REMOVED_TYPE and marker["layers"] == []
    with pytest.raises(SpecError, match="latest cannot be removed.*Fix: archive that version"):
        reads.remove_label(store, "serve", "latest")
    assert reads.set_label(store, "serve", "2", "prod").labels == ("prod", "latest")
    assert store.has_manifest(one[0]) and store.has_manifest("serve.v1")  # nothing deleted


def test_releasing_labels_takes_off_only_those_still_on_the_image_given(store_spec):
    store = _open(store_spec)
    one, _ = _two_versions(store, "serve", "rel")
    reads.set_label(store, "serve", "1", "staging")
    reads.set_label(store, "serve", "2", "staging")  # moved by someone else: theirs now
    assert reads.release_labels(store, "serve", ("prod", "staging", "latest"), one[0]) == ["prod"]
    assert [v.labels for v in reads.versions(store, "serve")] == [(), ("staging", "latest")]


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


def test_an_anonymous_cache_hit_costs_no_more_requests_than_a_named_one(fault_proxy, registry, base_image):
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import build

    base = base_image.replace(registry.host, fault_proxy.host)  # through the proxy: its layers are mounted, not copied
    repository = f"{fault_proxy.host}/catalogue/hits-{os.getpid()}"
    specs = {metadata.get("name", "anonymous"): from_mapping({"image": base, "python": {"user_managed_dependencies": True}, "variables": {"V": "hits"}, **metadata})
             for metadata in ({}, {"name": "train"})}
    requests = {}
    for kind, spec in specs.items():
        assert not build(spec, repository).cache_hit or kind == "train"  # one image: the named build finds the anonymous one's
        fault_proxy.set_rules()
        hit = build(spec, repository)
        requests[kind] = len(fault_proxy.seen)
        assert hit.cache_hit and hit.version == "1"
    assert requests["anonymous"] <= requests["train"] <= 10, requests  # 8 today: the hash tag, then two listings and their versions, and latest


def test_a_resource_releases_only_the_labels_it_owns_and_all_of_them_on_a_new_name(tmp_path):
    from mlenv.provider import OWNED_LABELS, _release

    store = LayoutStore(str(tmp_path / "layout"))
    one, _ = _two_versions(store, "train", "own")
    for label in ("staging", "canary"):
        reads.set_label(store, "train", "1", label)
    olds = {"repository": f"oci:{tmp_path / 'layout'}", "name": "train", "digest": one[0], "labels": ["canary", "prod", "staging"]}
    assert _release(olds, {"env_name": "train", "labels": ["prod"]}) == ()  # a state from before owned_labels: owns nothing
    assert _release({**olds, OWNED_LABELS: ["prod", "staging"]}, {"env_name": "train", "labels": ["prod"]}) == ("staging",)
    assert [v.labels for v in reads.versions(store, "train")] == [("canary", "prod"), ("latest",)]
    assert _release({**olds, OWNED_LABELS: ["prod"]}, {"env_name": "serve", "labels": ["prod"]}) == ("prod",)  # another name now
    assert [v.labels for v in reads.versions(store, "train")] == [("canary",), ("latest",)]  # canary was never this resource's


def test_a_repository_refusing_the_catalogue_fails_a_named_build_but_not_a_nameless_one(fault_proxy, registry, base_image):
    from testbed.fault_proxy import Rule
    from mlenv.definition.load import from_mapping
    from mlenv.diagnostics.errors import RegistryError
    from mlenv.pipeline import build

    base = base_image.replace(registry.host, fault_proxy.host)
    repository = f"{fault_proxy.host}/catalogue/refusing-{os.getpid()}"
    fault_proxy.set_rules(Rule("status", method="GET", path="/tags/list", status=403, times=10))  # a login that may push but not list
    lines = []
    nameless = build(from_mapping({"image": base, "python": {"user_managed_dependencies": True}, "variables": {"V": "refused"}}), repository, log=lines.append)
    assert nameless.digest and (nameless.name, nameless.version) == ("", "")  # built and pushed as it always was
    assert any(line.startswith(f"warning: not registered as anon-{nameless.definition_hash[:12]}: registry") for line in lines), lines
    with pytest.raises(RegistryError, match="403"):
        build(from_mapping({"name": "train", "image": base, "python": {"user_managed_dependencies": True}, "variables": {"V": "refused"}}), repository)


def test_the_preview_read_of_a_registry_that_hangs_gives_up_in_seconds_and_says_so(fault_proxy):
    import time

    from testbed.fault_proxy import Rule
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import PREVIEW_TIMEOUT, plan_registration
    from mlenv.oci.registry import ATTEMPTS

    repository = f"{fault_proxy.host}/catalogue/hanging-{os.getpid()}"
    fault_proxy.set_rules(Rule("delay", method="GET", path="/tags/list", delay=PREVIEW_TIMEOUT + 2, times=ATTEMPTS))
    spec = from_mapping({"name": "train", "image": "127.0.0.1:1/base@sha256:" + "0" * 64, "python": {"user_managed_dependencies": True}})
    started = time.monotonic()
    found, said = plan_registration(spec, repository)
    assert found is None and said.startswith(f"the catalogue of {repository} could not be read (the registry {fault_proxy.host} did not answer: ReadTimeout")
    assert time.monotonic() - started < ATTEMPTS * PREVIEW_TIMEOUT + 5  # not the 60 s a build waits for each answer
