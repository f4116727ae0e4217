"""docs/CURATED.md through the CLI as a user runs it: the shipped catalogue listed and shown, a
reference accepted wherever a definition is (validate, hash, diff, a file's `curated:`), and a site
catalogue ($MLENV_CURATED_DIR, the tests' own two-version one) joining it."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests import paths
from tests.cli_runs import MLENV, write

pytestmark = pytest.mark.integration
SITE = paths.FIXTURES / "curated"
DOC = paths.ROOT / "docs" / "CURATED.md"


def run(*args, site: bool = False, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLENV_CURATED_DIR": str(SITE)} if site else {k: v for k, v in os.environ.items() if k != "MLENV_CURATED_DIR"}
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, env=env, cwd=cwd)


def shipped() -> list[dict]:
    done = run("curated", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_list_names_every_shipped_environment_and_the_doc_table_agrees():
    entries = shipped()
    assert {e["name"] for e in entries} >= {"python-3.11", "sklearn-1.5", "pytorch-2.5-cuda12", "tensorflow-2", "lightgbm-xgboost", "mlflow-inference"}
    rows = re.findall(r"^\| `(mlenv:[^`]+)` \| (.+?) \|$", DOC.read_text(), re.MULTILINE)
    assert rows == [(e["reference"], e["summary"]) for e in entries]
    text = run("curated", "list").stdout.splitlines()
    assert text == [f"mlenv:{e['name']}\tlatest {e['latest']}\t{e['summary']}" for e in entries]


def test_show_prints_the_version_file_that_build_accepts(tmp_path):
    done = run("curated", "show", "sklearn-1.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# mlenv:sklearn-1.5:1 (latest): scikit-learn")
    definition = json.loads(run("curated", "show", "mlenv:sklearn-1.5:1", "--json").stdout)["definition"]
    assert definition in done.stdout and "scikit-learn==1.5.2 --hash=sha256:" in definition
    copy = write(tmp_path / "mine.yml", definition)
    assert run("validate", "--offline", str(copy)).returncode == 0


def test_a_reference_is_a_definition_for_validate_hash_and_diff():
    assert run("validate", "--offline", "mlenv:sklearn-1.5@latest").returncode == 0
    hashes = [run("hash", ref, site=True).stdout.strip() for ref in ("mlenv:tiny-1.0@latest", "mlenv:tiny-1.0:2", "mlenv:tiny-1.0:1")]
    assert hashes[0] == hashes[1] != hashes[2] and all(len(h) == 64 for h in hashes)
    diff = run("diff", "mlenv:tiny-1.0:1", "mlenv:tiny-1.0@latest", "--exit-code", site=True)
    assert diff.returncode == 1, diff.stderr  # it rebuilds
    assert "six" in diff.stdout and "curated" in diff.stdout


def test_a_file_may_hold_the_reference_with_metadata_beside_it(tmp_path):
    env = write(tmp_path / "env.yml", "name: train\ntags: {team: ml}\ncurated: mlenv:tiny-1.0@latest\n")
    assert run("hash", str(env), site=True).stdout == run("hash", "mlenv:tiny-1.0:2", site=True).stdout
    bad = write(tmp_path / "bad.yml", "curated: mlenv:tiny-1.0@latest\nvariables: {A: '1'}\n")
    done = run("validate", "--offline", str(bad), site=True)
    assert done.returncode == 1
    assert f"{bad}: error: curated: a curated environment cannot be combined with variables (got 'mlenv:tiny-1.0@latest')." in done.stdout


def test_a_bad_reference_and_an_azure_ml_one_are_one_line_each():
    done = run("hash", "mlenv:sklearn-15@latest")
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    assert "curated: no curated environment named 'sklearn-15' (got 'mlenv:sklearn-15@latest'). Fix: did you mean mlenv:sklearn-1.5@latest?" in done.stdout + done.stderr
    azure = run("validate", "--offline", "azureml://registries/azureml/environments/sklearn-1.5/labels/latest")
    assert azure.returncode == 1 and "its counterpart here is mlenv:sklearn-1.5@latest" in azure.stdout + azure.stderr
