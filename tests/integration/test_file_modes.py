"""Files honour the umask, as other tools' do: another user's skopeo can read an image layout we
wrote, and cached wheels and layers are not private to whoever built first."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration


def _modes(paths) -> set[int]:
    return {stat.S_IMODE(path.stat().st_mode) for path in paths}


@pytest.fixture
def shared_dir():
    """A folder other users can enter (pytest's own tmp_path is private to this user)."""
    path = Path(tempfile.mkdtemp(prefix="mlenv-shared-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_layout_and_the_cache_honour_the_umask_and_another_user_can_inspect(shared_dir, tmp_path, base_image, index_settings, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    layout = shared_dir / "images"
    previous = os.umask(0o022)
    try:
        result = build(from_mapping({"image": base_image, "pip": ["six==1.16.0"]}), f"oci:{layout}", index=index_settings)
    finally:
        os.umask(previous)
    assert _modes((layout / "blobs" / "sha256").iterdir()) == {0o644}
    assert _modes([layout / "index.json", layout / "oci-layout"]) == {0o644}
    assert _modes((tmp_path / "cache" / "wheels").rglob("*.whl")) == {0o644}
    assert _modes((tmp_path / "cache" / "layers").rglob("layer.*")) == {0o644}
    assert shutil.which("skopeo"), "skopeo is installed by scripts/setup-system.sh"
    done = subprocess.run(["runuser", "-u", "nobody", "--", "skopeo", "inspect", f"oci:{layout}:{result.tag}"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/tmp"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Digest"] == result.digest


def test_a_private_umask_is_honoured_too(shared_dir):
    from mlenv.oci.layout import LayoutStore

    previous = os.umask(0o077)
    try:
        LayoutStore(shared_dir / "private").put_blob_bytes("sha256:" + "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", b"hello")
    finally:
        os.umask(previous)
    assert _modes((shared_dir / "private" / "blobs" / "sha256").iterdir()) == {0o600}
