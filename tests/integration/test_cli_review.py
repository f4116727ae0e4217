"""`mlenv validate` for CI and `mlenv diff` for pull-request review, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_runs import MLENV, run, write  # noqa: F401
BASE = "registry.example/base/python:3.11-bookworm"
PINNED_BASE = BASE.split(":")[0] + "@sha256:" + "c" * 64


def test_validate_exit_codes_errors_and_warnings(tmp_path):
    good = write(tmp_path / "good.yml", f"image: {PINNED_BASE}\npip: [six==1.16.0]\n")
    warned = write(tmp_path / "warned.yml", f"image: {BASE.split(':')[0]}\npip: [six==1.16.0]\n")
    bad = write(tmp_path / "bad.yml", "name: AzureML-copy\npip: [six==1.16.0]\n")
    done = run("validate", "--offline", str(good), str(warned))
    assert done.returncode == 0
    assert f"{good}: ok (0 warnings)" in done.stdout
    assert f"{warned}: warning: image: mutable tag 'latest' (no tag or digest: latest is implied)" in done.stdout
    done = run("validate", "--offline", str(good), str(bad))
    assert done.returncode == 1
    assert f"{bad}: error: name: the prefix 'AzureML' is reserved" in done.stdout
    assert f"{bad}: error: image: no Docker definition" in done.stdout and "Traceback" not in done.stdout + done.stderr


@pytest.mark.integration
def test_validate_says_what_an_unpinned_package_would_lock_to(tmp_path, index):
    env = write(tmp_path / "env.yml", f"image: {PINNED_BASE}\npython: {{version: '3.11'}}\npip: [six, tqdm==4.66.5]\n")
    done = run("validate", "--index-url", index.url, str(env))
    assert done.returncode == 0
    assert "warning: pip.six: unpinned (six): it would lock to six==1.17.0 today. Fix: pin it (six==1.17.0)" in done.stdout


def realistic_pair(tmp_path: Path) -> tuple[Path, Path]:
    old = write(tmp_path / "old" / "environment.yml", f"""name: train
image: {BASE}
conda_file: conda.yml
variables: {{OMP_NUM_THREADS: "1"}}
""")
    write(tmp_path / "old" / "conda.yml", """channels: [conda-forge, nodefaults]
dependencies:
  - python=3.11
  - pip
  - pip: [numpy==1.26.4, requests, six==1.16.0]
""")
    new = write(tmp_path / "new" / "environment.yml", f"""name: train
description: bumped numpy
image: {PINNED_BASE.replace('registry.example/base/python', 'registry.example/base/python')}
conda_file: conda.yml
variables: {{OMP_NUM_THREADS: "2", HF_HOME: /cache}}
""")
    write(tmp_path / "new" / "conda.yml", """channels: [conda-forge, nodefaults]
dependencies:
  - python=3.11
  - pip
  - pip: [requests, numpy==2.0.1, scipy>=1.13]
""")
    return old, new


def test_diff_text_is_a_changelog_with_the_rebuild_verdict(tmp_path):
    old, new = realistic_pair(tmp_path)
    done = run("diff", str(old), str(new))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split(": ", 1)[1].startswith("rebuilds: definition ")
    assert f"  image: base image tag → digest: {BASE} → {PINNED_BASE}" in lines
    assert "  pip: numpy 1.26.4 → 2.0.1" in lines
    assert "  pip: + scipy>=1.13" in lines and "  pip: - six==1.16.0" in lines
    assert "  variables: + HF_HOME=/cache" in lines and "  variables: OMP_NUM_THREADS: 1 → 2" in lines
    assert '  metadata: description: (none) → "bumped numpy" (metadata, no rebuild)' in lines
    assert not any("requests" in line for line in lines)  # unchanged, only moved


def test_diff_markdown_and_json_forms(tmp_path):
    old, new = realistic_pair(tmp_path)
    markdown = run("diff", "--format", "markdown", str(old), str(new)).stdout
    assert markdown.startswith("#### `") and "**rebuilds**" in markdown
    assert "**pip**\n- `numpy 1.26.4 → 2.0.1`" in markdown
    report = json.loads(run("diff", "--format", "json", str(old), str(new)).stdout)
    assert report["rebuilds"] is True and report["old_hash"] != report["new_hash"]
    assert {"section": "pip", "kind": "added", "text": "+ scipy>=1.13"} in report["changes"]


def test_metadata_only_and_reordering_do_not_rebuild(tmp_path):
    old = write(tmp_path / "a.yml", f"image: {BASE}\npip: [requests, NumPy==1.26.4]\ndescription: one\n")
    new = write(tmp_path / "b.yml", f"image: {BASE}\npip: [numpy==1.26.4, requests]\ndescription: two\n")
    done = run("diff", "--exit-code", str(old), str(new))
    assert done.returncode == 0
    assert "no rebuild: definition" in done.stdout.splitlines()[0]
    assert done.stdout.splitlines()[1:] == ['  metadata: description: "one" → "two" (metadata, no rebuild)']


def test_channel_order_and_conda_packages(tmp_path):
    conda = lambda channels, numpy: f"image: {BASE}\nconda: {{channels: [{channels}], dependencies: [python=3.11, 'numpy{numpy}']}}\n"  # noqa: E731
    old = write(tmp_path / "a.yml", conda("conda-forge, defaults", "=1.26"))
    new = write(tmp_path / "b.yml", conda("defaults, conda-forge", "=2.0"))
    lines = run("diff", str(old), str(new)).stdout.splitlines()
    assert "  conda: channel order changed: conda-forge, defaults → defaults, conda-forge (priority)" in lines
    assert "  conda: numpy 1.26.* → 2.0.*" in lines


def test_diff_between_git_revisions_reads_includes_at_that_revision(tmp_path):
    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "ci@example.invalid")
    git("config", "user.name", "ci")
    write(tmp_path / "envs" / "train.yml", f"image: {BASE}\npip: requirements.txt\n")
    write(tmp_path / "envs" / "requirements.txt", "-r base.txt\ntorch-lite==1.0\n")
    write(tmp_path / "envs" / "base.txt", "six==1.16.0\n")
    git("add", "-A")
    git("commit", "-qm", "first")
    write(tmp_path / "envs" / "base.txt", "six==1.17.0\n")  # only the include changes
    done = run("diff", "HEAD:envs/train.yml", "envs/train.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  pip: six 1.16.0 → 1.17.0" in done.stdout.splitlines()
    missing = run("diff", "nosuchrev:envs/train.yml", "envs/train.yml", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: revision: git cannot read revision nosuchrev")
