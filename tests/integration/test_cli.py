"""`mlenv` as a user runs it: exit codes, one-line errors, JSON outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.identity.hashing import definition_hash
from mlenv.definition.load import load_file
from tests import paths

MLENV = [sys.executable, "-m", "mlenv.cli"]
QUICKSTART = paths.QUICKSTART / "environment.yml"


def run(*args, **kwargs):
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, **kwargs)


def test_hash_prints_the_definition_hash():
    done = run("hash", str(QUICKSTART))
    assert done.returncode == 0 and done.stdout.strip() == definition_hash(load_file(QUICKSTART))


def test_bad_file_is_one_error_line_and_exit_2(tmp_path):
    (tmp_path / "env.yml").write_text("image: 127.0.0.1:5000/base/python:3.11\nvariabels: {A: '1'}\n")
    done = run("build", str(tmp_path / "env.yml"), "--registry", f"oci:{tmp_path / 'out'}")
    assert done.returncode == 2
    assert done.stderr == "error: variabels: unknown field. Fix: did you mean 'variables'?\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_build_json_then_cache_hit(tmp_path, base_image, index, build_cache):
    (tmp_path / "env.yml").write_text(f"image: {base_image}\npip: [six==1.16.0]\n")
    command = ["build", str(tmp_path / "env.yml"), "--registry", f"oci:{tmp_path / 'out'}", "--index-url", index.url, "--json"]
    first, second = (json.loads(run(*command, check=True).stdout) for _ in range(2))
    assert first["cache_hit"] is False and first["packages"] == ["pip==24.3.1", "six==1.16.0"]
    assert second["cache_hit"] is True and second["bytes_pushed"] == 0
    assert second["image_ref"] == first["image_ref"] == f"oci:{tmp_path / 'out'}@{first['digest']}"
