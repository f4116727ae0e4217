"""The source annotations come from the definition's git checkout: its remote without credentials,
and its commit only when the checkout is clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlenv.builders.checkout import REVISION, SOURCE, source_annotations
from mlenv.definition.load import load_file
from mlenv.identity.hashing import definition_hash


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    folder = tmp_path / "repo"
    (folder / "envs").mkdir(parents=True)
    (folder / "envs" / "train.yml").write_text("image: example.org/base/python:3.11\npip: [six==1.16.0]\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "remote", "add", "origin", "https://builder:s3cret-token@git.example.org/ml/envs.git")
    git(folder, "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    return folder


def test_a_clean_checkout_gives_the_remote_without_credentials_and_the_commit(checkout):
    found = source_annotations(load_file(checkout / "envs" / "train.yml").origin)
    assert found == {SOURCE: "https://git.example.org/ml/envs.git", REVISION: git(checkout, "rev-parse", "HEAD")}
    assert "s3cret" not in repr(found)


def test_a_dirty_checkout_gives_the_source_and_no_revision(checkout):
    (checkout / "envs" / "train.yml").write_text("image: example.org/base/python:3.11\npip: [six==1.17.0]\n")
    assert source_annotations(checkout / "envs" / "train.yml") == {SOURCE: "https://git.example.org/ml/envs.git"}
    git(checkout, "checkout", "-q", "--", ".")
    (checkout / "envs" / "untracked.yml").write_text("pip: [six]\n")  # untracked files elsewhere do not count...
    assert REVISION in source_annotations(checkout / "envs" / "train.yml")
    assert REVISION not in source_annotations(checkout / "envs" / "untracked.yml")  # ...but an untracked definition does


def test_the_branch_remote_wins_and_no_remote_or_no_checkout_gives_nothing(checkout, tmp_path):
    git(checkout, "remote", "add", "fork", "git@git.example.org:me/envs.git")
    git(checkout, "config", "branch.main.remote", "fork")
    assert source_annotations(checkout / "envs")[SOURCE] == "git@git.example.org:me/envs.git"
    git(checkout, "remote", "remove", "fork")
    git(checkout, "remote", "remove", "origin")
    assert source_annotations(checkout / "envs") == {}
    (tmp_path / "plain").mkdir()
    assert source_annotations(tmp_path / "plain") == {}


def test_where_a_definition_lives_is_not_hashed(checkout, tmp_path):
    elsewhere = tmp_path / "copy.yml"
    elsewhere.write_text((checkout / "envs" / "train.yml").read_text())
    here, there = load_file(checkout / "envs" / "train.yml"), load_file(elsewhere)
    assert here.origin != there.origin and definition_hash(here) == definition_hash(there)
