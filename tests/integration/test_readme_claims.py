"""Sentences of README.md and docs/HASHING.md, tried as a new user tries them: the CLI as a subprocess.
Each test names the sentence it holds to."""

from __future__ import annotations

import shutil
import subprocess

from tests import paths

from tests.cli_runs import MLENV, run, write  # noqa: F401
DIGEST = "sha256:" + "c" * 64


def test_validate_accepts_conda_packages_and_only_a_bare_name_is_unpinned(tmp_path):
    """README: conda packages are built by the daemonless builder; validate warns only about a bare
    name ("a conda one is a bare name such as …"), never about a constrained pin."""
    write(tmp_path / "conda.yml", "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=1.26\n  - scipy>=1.10\n  - pandas\n")
    env = write(tmp_path / "env.yml", f"image: registry.example/base/python@{DIGEST}\nconda_file: conda.yml\n")
    done = run("validate", "--offline", str(env))
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert not any("conda builder" in line for line in lines)
    unpinned = [line for line in lines if "unpinned" in line]
    assert unpinned == [f'{env}: warning: conda.pandas: unpinned: conda picks the newest version at build time. Fix: pin it in conda syntax, e.g. pandas=X.Y or "pandas>=X.Y,<Z"']
    assert lines[-1] == f"{env}: ok (1 warning)"


def test_a_conda_file_beside_dockerfile_text_is_an_error(tmp_path):
    """README: "A conda file beside Dockerfile text or a build context is an error … the Dockerfile's
    base is not known before it is built"."""
    env = write(tmp_path / "env.yml", "dockerfile: 'FROM registry.example/base/python:3.11'\n"
                "conda: {channels: [conda-forge], dependencies: [python=3.11, numpy=1.26]}\n")
    assert run("validate", "--offline", str(env)).returncode == 1
    built = run("build", str(env), "--registry", f"oci:{tmp_path / 'out'}")
    assert built.returncode == 2 and "the Dockerfile's base is not known before it is built" in built.stderr and "Traceback" not in built.stderr
    assert not (tmp_path / "out").exists()


def test_quickstart_validates_with_exit_0_and_its_tag_is_warned_about():
    """README: "`validate` applies … mutable base tags" and "exit 1 on errors; warnings printed"."""
    quickstart = paths.QUICKSTART / "environment.yml"
    done = run("validate", "--offline", str(quickstart))
    assert done.returncode == 0, done.stdout
    assert (f"{quickstart}: warning: image: mutable tag '3.11-bookworm': the base can change under the same definition "
            "(got '127.0.0.1:5000/base/python:3.11-bookworm'). Fix: pin the digest: 127.0.0.1:5000/base/python@sha256:... (a tag names no fixed image)") in done.stdout
    assert done.stdout.splitlines()[-1].startswith(f"{quickstart}: ok (")


def test_azureml_v1_saved_directory_validates(tmp_path):
    """README: "camelCase keys of `azureml_environment.json` too" — the file as the v1 SDK saves it."""
    saved = shutil.copytree(paths.DEFINITIONS / "azureml-v1", tmp_path / "saved")
    done = run("validate", "--offline", str(saved / "azureml_environment.json"))
    assert done.returncode == 0, done.stdout
    assert "error" not in done.stdout and "unknown field" not in done.stdout
    hashed = run("hash", str(saved / "azureml_environment.json"))
    same = write(tmp_path / "same.yml", "image: registry.example/azureml/openmpi4.1.0-ubuntu22.04:20240506.v1\npython: {version: '3.11', pip: '23.3.1.*'}\n"
                                         "pip: [six==1.16.0, tqdm==4.66.5]\nvariables: {EXAMPLE_ENV_VAR: EXAMPLE_VALUE}\n")
    assert hashed.returncode == 0 and hashed.stdout == run("hash", str(same)).stdout  # conda_dependencies.yml beside it was read (its pip=23.3.1 too)


def test_diff_says_tag_to_digest_for_a_registry_with_a_port(tmp_path):
    """README's diff example: "image: base image tag → digest: …", for the quickstart's own 127.0.0.1:5000."""
    old = write(tmp_path / "old.yml", "image: 127.0.0.1:5000/base/python:3.11-bookworm\npip: [six==1.16.0]\n")
    new = write(tmp_path / "new.yml", f"image: 127.0.0.1:5000/base/python@{DIGEST}\npip: [six==1.16.0]\n")
    done = run("diff", str(old), str(new))
    assert done.returncode == 0, done.stderr
    assert f"  image: base image tag → digest: 127.0.0.1:5000/base/python:3.11-bookworm → 127.0.0.1:5000/base/python@{DIGEST}" in done.stdout.splitlines()


