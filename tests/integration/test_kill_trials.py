"""`mlenv build` killed with SIGKILL while it writes: no tag points at a partial image, the next build
converges (exit 0, a complete image under the tag) and removes what the killed one left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlenv.oci.layout import REF_NAME, LayoutStore

pytestmark = pytest.mark.integration

# name: (the folder whose first temporary is the moment to kill, a package installed first to warm the cache, the package built)
TRIALS = {
    "downloading a base layer into the cache": ("cache/tmp", None, "six==1.16.0"),
    "copying a base layer into the layout": ("images/blobs", None, "six==1.16.0"),
    "fetching and installing a wheel": ("cache/tmp", "six==1.17.0", "numpy==1.26.4"),
}


def _build(folder: Path, base: str, package: str, index, **popen) -> subprocess.Popen:
    definition = folder / f"{package.split('==')[0]}.yml"
    definition.write_text(f"image: {base}\npip: [{package}]\n")
    command = [sys.executable, "-m", "mlenv.cli", "build", str(definition), "--registry", f"oci:{folder / 'images'}", "--index-url", index.url]
    env = {**os.environ, "MLENV_CACHE_DIR": str(folder / "cache")}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **popen)


def _kill_at_first_temporary(process: subprocess.Popen, watched: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watched.is_dir() and any(name.startswith(".part-") for name in os.listdir(watched)):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
            return
        if process.poll() is not None:
            raise AssertionError(f"the build ended ({process.returncode}) before it wrote into {watched}: {process.stdout.read()}")
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"no temporary appeared in {watched} within {timeout}s")


def _tags(layout: Path) -> dict[str, str]:
    if not (layout / "index.json").exists():
        return {}
    return {m["annotations"][REF_NAME]: m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]}


@pytest.mark.parametrize("name", list(TRIALS))
def test_a_killed_build_leaves_no_tag_and_the_next_one_converges(name, tmp_path, base_image, index):
    watched, warm, package = TRIALS[name]
    if warm:
        assert _build(tmp_path, base_image, warm, index).wait(300) == 0
    tags_before = _tags(tmp_path / "images")
    killed = _build(tmp_path, base_image, package, index)
    _kill_at_first_temporary(killed, tmp_path / watched)
    assert [n for n in os.listdir(tmp_path / watched) if n.startswith(".part-")], "the kill left its temporary"
    assert _tags(tmp_path / "images") == tags_before, "no tag for the killed build"

    again = _build(tmp_path, base_image, package, index)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output
    new_tags = {t for t in set(_tags(tmp_path / "images")) - set(tags_before) if t.startswith("mlenv-")}  # not the referrers tag (docs/VERSIONS.md)
    assert len(new_tags) == 1
    store = LayoutStore(tmp_path / "images")
    manifest = json.loads(store.get_manifest(new_tags.pop())[0])
    assert all(store.has_blob(d["digest"]) for d in [manifest["config"], *manifest["layers"]]), "a complete image"
    for folder in ("cache/tmp", "images/blobs"):
        assert not [n for n in os.listdir(tmp_path / folder) if n.startswith(".part-")], f"{folder} swept"
