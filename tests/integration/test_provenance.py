"""Where an image came from and when, in the terms outside tools read: `org.opencontainers.image.created`
(derived from the packages, never the clock), `.source` and `.revision` (the definition's git
checkout), and a layout reference skopeo accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build
from tests.cli_runs import run, write

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


def skopeo(*args: str) -> dict:
    assert shutil.which("skopeo"), "skopeo is installed by scripts/setup-system.sh"
    done = subprocess.run(["skopeo", "inspect", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def committed(folder: Path, remote: str) -> str:
    """A git checkout of what is in `folder`, with `remote` as origin; its commit."""
    git = lambda *args: subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    git("init", "-q")
    git("remote", "add", "origin", remote)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "env")
    return git("rev-parse", "HEAD")


def test_the_printed_layout_reference_is_one_skopeo_reads_and_mlenv_takes_back(tmp_path, base_image, index):
    definition = write(tmp_path / "repo" / "env.yml", f"image: {base_image}\npip: [six==1.16.0]\n")
    commit = committed(tmp_path / "repo", "https://ci:t0ken-9f@git.example.org/ml/envs.git")
    out = tmp_path / "out"
    done = run("build", str(definition), "--registry", f"oci:{out}", "--index-url", index.url)
    assert done.returncode == 0, done.stderr
    image_ref, _, for_tools = done.stdout.splitlines()[-3:]  # after the build log
    digest = image_ref.split("@", 1)[1]
    tag_ref = for_tools.removeprefix("  for skopeo, podman: ")
    assert tag_ref.startswith(f"oci:{out}:mlenv-")

    inspected, manifest = skopeo(tag_ref), skopeo("--raw", tag_ref)
    assert inspected["Digest"] == digest
    assert inspected["Created"] == manifest["annotations"][CREATED] > "2000"
    assert manifest["annotations"]["dev.mlenv.definition-hash"] == inspected["Labels"]["dev.mlenv.definition-hash"]
    assert manifest["annotations"]["org.opencontainers.image.source"] == "https://git.example.org/ml/envs.git"  # no credentials
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit

    for written in (tag_ref, image_ref):  # both forms name the layout's image as a base
        on_top = write(tmp_path / "on-top.yml", f"image: {written}\npython: {{user_managed_dependencies: true}}\nvariables: {{FROM: layout}}\n")
        built = run("build", str(on_top), "--registry", f"oci:{tmp_path / 'second'}", "--json")
        assert built.returncode == 0, built.stderr
        manifest = skopeo("--raw", json.loads(built.stdout)["tag_ref"])
        assert manifest["annotations"]["org.opencontainers.image.base.digest"] == digest
        assert manifest["annotations"][CREATED] == inspected["Created"]  # nothing installed: the base's time


def test_a_conda_environment_is_dated_by_its_newest_package_in_the_channel_repodata(tmp_path, debian_without_python_image, conda_channel):
    definition = {"image": debian_without_python_image, "conda": {"channels": [conda_channel.url], "dependencies": ["chain-a", "tinylib=2.0", "prefixprobe"]}}
    result = build(from_mapping(definition), f"oci:{tmp_path / 'images'}")
    stamps = {}
    for repodata in conda_channel.root.glob("*/repodata.json"):
        for record in json.loads(repodata.read_text())["packages.conda"].values():
            stamps[f"{record['name']}=={record['version']}={record['build']}"] = record["timestamp"]
    newest = max(stamps[pin] for pin in result.packages)  # milliseconds, as conda writes them
    manifest, config = manifest_and_config(tmp_path / "images", result.digest)
    assert config["created"] == manifest["annotations"][CREATED] == datetime.fromtimestamp(newest // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
