"""Parallel writers into one OCI layout (the default store; Pulumi runs resources in parallel): every
build that exits 0 has its tag in index.json, and index.json always parses."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import pytest

from mlenv.oci.layout import REF_NAME, LayoutStore
from mlenv.oci.mediatypes import OCI_MANIFEST

pytestmark = pytest.mark.integration
BUILDERS, ROUNDS, BUDGET = 8, 20, 60.0
WRITERS, TAGS_EACH = 4, 40


def _build_one(job: tuple[str, str, int, int]) -> tuple[str, str]:
    """One `mlenv build` of a definition of its own (a process of the pool)."""
    from mlenv.definition.load import from_mapping
    from mlenv.pipeline import build

    layout, base, round_number, worker = job
    spec = from_mapping({"image": base, "python": {"user_managed_dependencies": True},
                         "variables": {"ROUND": str(round_number), "WORKER": str(worker)}})
    result = build(spec, f"oci:{layout}")
    return result.tag, result.digest


def _write_tags(job: tuple[str, int]) -> int:
    layout, writer = job
    store = LayoutStore(layout)
    for number in range(TAGS_EACH):
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "writer": writer, "n": number}).encode()
        store.put_manifest(f"w{writer}-{number}", manifest, OCI_MANIFEST)
    return TAGS_EACH


def _tags(layout: Path, catalogue: bool = False) -> dict[str, str]:
    """The hash tags (or, with `catalogue`, the catalogue's tags, which hold a dot): not the referrers tags (docs/VERSIONS.md)."""
    index = json.loads((layout / "index.json").read_text())  # must parse after every round
    named = {m["annotations"][REF_NAME]: m["digest"] for m in index["manifests"] if REF_NAME in m.get("annotations", {})}
    return {tag: digest for tag, digest in named.items() if not tag.startswith("sha256-") and ("." in tag) == catalogue}


def test_eight_builds_at_once_into_one_layout_keep_every_tag(tmp_path, base_image):
    layout = tmp_path / "images"
    expected = dict([_build_one((str(layout), base_image, -1, 0))])  # the base's blobs are in the layout before the race
    started, rounds = time.monotonic(), 0
    with multiprocessing.get_context("spawn").Pool(BUILDERS) as pool:
        while rounds < ROUNDS and time.monotonic() - started < BUDGET:
            built = pool.map(_build_one, [(str(layout), base_image, rounds, worker) for worker in range(BUILDERS)])
            expected.update(built)
            tags = _tags(layout)
            lost = {tag for tag in expected if tags.get(tag) != expected[tag]}
            assert not lost, f"round {rounds}: {len(lost)} of {len(expected)} tags lost"
            rounds += 1
    assert rounds >= 3, f"only {rounds} rounds of {BUILDERS} builds fit in {BUDGET:.0f}s"
    assert len(_tags(layout)) == 1 + rounds * BUILDERS
    assert sum(tag.endswith(".v1") for tag in _tags(layout, catalogue=True)) == 1 + rounds * BUILDERS  # each nameless build: anon-<hash>:1
    store = LayoutStore(layout)
    for tag, digest in expected.items():
        data, _ = store.get_manifest(tag)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest and all(
            store.has_blob(layer["digest"]) for layer in json.loads(data)["layers"])
    assert not list((layout / "blobs").glob(".part-*")), "no temporary left behind"


def test_four_writers_of_forty_tags_keep_all_hundred_sixty(tmp_path):
    layout = tmp_path / "tags"
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        assert sum(pool.map(_write_tags, [(str(layout), writer) for writer in range(WRITERS)])) == WRITERS * TAGS_EACH
    tags = _tags(layout)
    assert len(tags) == WRITERS * TAGS_EACH
    assert set(tags) == {f"w{w}-{n}" for w in range(WRITERS) for n in range(TAGS_EACH)}
