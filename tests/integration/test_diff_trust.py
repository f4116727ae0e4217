"""`mlenv diff` a reviewer can trust (issue 11, item 11): every change that reaches the image shows,
nothing still present shows as removed, and `REV:PATH` reads only what the definition needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlenv

MLENV = [sys.executable, "-m", "mlenv.cli"]
BASE = "registry.example/base/python:3.11-bookworm"


ROOT = Path(mlenv.__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("provider", "sdk", "."))}  # this checkout's code, from any cwd


def run(*args, cwd=None):
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, cwd=cwd, env=ENV)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def conda_env(dependencies: str, channels: str = "conda-forge") -> str:
    return f"channels: [{channels}]\ndependencies: [{dependencies}, {{pip: [six==1.16.0]}}]\n"


def test_a_conda_pip_pin_change_rebuilds_and_says_so(tmp_path):
    """The pin is applied (conda's pip, or the venv's pip of a file with no conda packages), so it is
    hashed: the diff shows it as a rebuild, in the terms of the section that applies it."""
    for packages, line in (("python=3.11, numpy=1.26", "  conda: pip 23.0.* → 24.2.*"), ("python=3.11", "  python: Python pip: ==23.0.* → ==24.2.*")):
        old = write(tmp_path / "a" / "environment.yml", conda_env(f"{packages}, pip=23.0"))
        new = write(tmp_path / "b" / "environment.yml", conda_env(f"{packages}, pip=24.2"))
        done = run("diff", "--image", BASE, "--exit-code", str(old), str(new))
        lines = done.stdout.splitlines()
        assert done.returncode == 1 and "rebuild" in lines[0] and "no rebuild" not in lines[0], done.stdout + done.stderr
        assert lines[1:] == [line]
        assert run("hash", "--image", BASE, str(old)).stdout != run("hash", "--image", BASE, str(new)).stdout


def test_bare_pip_and_no_pip_are_no_change(tmp_path):
    bare = write(tmp_path / "a" / "environment.yml", conda_env("python=3.11, numpy=1.26, pip"))
    none = write(tmp_path / "b" / "environment.yml", conda_env("python=3.11, numpy=1.26"))
    assert run("diff", "--image", BASE, str(bare), str(none)).stdout.splitlines()[1:] == ["  no changes"]


def test_a_channel_still_listed_is_not_reported_removed(tmp_path):
    old = write(tmp_path / "a" / "environment.yml", conda_env("python=3.11, numpy=1.26"))
    new = write(tmp_path / "b" / "environment.yml", conda_env("python=3.11"))  # numpy moved out; channel kept
    lines = run("diff", "--image", BASE, str(old), str(new)).stdout.splitlines()
    assert "  conda: - numpy 1.26.*" in lines
    assert not any("channel" in line for line in lines[1:]), lines


def test_a_changed_requirements_file_in_a_build_context_shows_its_pins(tmp_path):
    for side, numpy in (("a", "1.26.4"), ("b", "2.0.1")):
        write(tmp_path / side / "context" / "Dockerfile", f"FROM {BASE}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n")
        write(tmp_path / side / "context" / "requirements.txt", f"# pinned for CI\nnumpy=={numpy}\nrequests>=2.31\n")
        write(tmp_path / side / "env.yml", "build: {path: context}\n")
    lines = run("diff", str(tmp_path / "a" / "env.yml"), str(tmp_path / "b" / "env.yml")).stdout.splitlines()
    assert "  build: ~ requirements.txt: numpy 1.26.4 → 2.0.1" in lines, lines
    assert "  build: ~ requirements.txt" not in lines


def test_rev_path_reads_only_the_blobs_it_needs(tmp_path):
    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "ci@example.invalid")
    git("config", "user.name", "ci")
    write(tmp_path / "envs" / "train.yml", f"image: {BASE}\npip: ../requirements.txt\n")
    write(tmp_path / "requirements.txt", "six==1.16.0\n")
    write(tmp_path / "data" / "big.bin", "not needed by any definition\n")
    git("add", "-A")
    git("commit", "-qm", "first")
    blob = git("rev-parse", "HEAD:data/big.bin").strip()
    (tmp_path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # a blob gone (partial clone, pruned object)
    assert subprocess.run(["git", "archive", "HEAD"], cwd=tmp_path, capture_output=True).returncode != 0  # what exporting the tree met
    write(tmp_path / "requirements.txt", "six==1.17.0\n")
    refused = run("diff", "HEAD:envs/train.yml", "envs/train.yml", cwd=tmp_path)  # ../requirements.txt is outside envs/
    assert refused.returncode == 2 and "points outside the definition's folder" in refused.stderr
    done = run("diff", "HEAD:envs/train.yml", "envs/train.yml", "--allow-path", ".", cwd=tmp_path)  # the checkout, at both revisions
    assert done.returncode == 0, done.stderr
    assert "  pip: six 1.16.0 → 1.17.0" in done.stdout.splitlines()
    gone = run("diff", "HEAD:envs/nothing.yml", "envs/train.yml", cwd=tmp_path)
    assert gone.returncode == 2 and "envs/nothing.yml does not exist at HEAD" in gone.stderr
