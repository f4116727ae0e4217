"""Where an image came from and when, in the terms outside tools read: `org.opencontainers.image.created`
(derived from the packages, never the clock), and a layout reference skopeo accepts."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration
CREATED = "org.opencontainers.image.created"


def manifest_and_config(layout: Path, digest: str) -> tuple[dict, dict]:
    blob = lambda d: json.loads((layout / "blobs" / "sha256" / d.split(":")[1]).read_bytes())  # noqa: E731
    manifest = blob(digest)
    return manifest, blob(manifest["config"]["digest"])


def newest_file_date(wheelhouse: Path, pins: list[str]) -> str:
    """The newest member date among the wheels of these pins, read here with zipfile directly."""
    dates = []
    for pin in pins:
        name, version = pin.split("==")
        (path,) = [p for p in wheelhouse.rglob("*.whl") if p.name.lower().startswith(f"{name.replace('-', '_')}-{version}-".lower())]
        with zipfile.ZipFile(path) as archive:
            dates += [info.date_time for info in archive.infolist()]
    return datetime(*max(dates), tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_created_is_the_newest_package_time_and_two_builds_of_one_lock_are_one_digest(tmp_path, base_image, index_settings, wheelhouse, monkeypatch):
    definition = {"image": base_image, "pip": ["requests", "six==1.16.0"]}
    results = []
    for run in ("first", "second"):  # separate caches and layouts: nothing is shared but the lock
        monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / run / "cache"))
        results.append(build(from_mapping(definition), f"oci:{tmp_path / run / 'images'}", index=index_settings))
    first, second = results
    assert first.lock_hash == second.lock_hash and first.digest == second.digest
    manifest, config = manifest_and_config(tmp_path / "first" / "images", first.digest)
    expected = newest_file_date(wheelhouse, first.packages)
    assert expected > "2000"  # a real date of a real wheel, not the epoch
    assert manifest["annotations"][CREATED] == config["created"] == expected
    ours = config["history"][-len(first.layers):]
    assert {entry["created"] for entry in ours} == {expected}
