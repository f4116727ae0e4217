"""The catalogue's user story through `mlenv`, against the real registry with real builds: versions
on a pin change, none on a metadata change, labels, history, show (by label and by digest, and a
rebuild of what it shows gives the same digest), archive and restore."""

from __future__ import annotations

import json
import os

import pytest

from tests.cli_runs import run, write

pytestmark = pytest.mark.integration


def _ok(*args, cwd=None) -> str:
    done = run(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _build(path, repository, index) -> dict:
    return json.loads(_ok("build", str(path), "--registry", repository, "--index-url", index.url, "--json"))


def test_the_whole_user_story_through_the_cli(tmp_path, registry, base_image, index):
    repository = f"{registry.host}/ml/envs-{os.getpid()}"
    definition = write(tmp_path / "train.yml", f"name: train\ndescription: first\nimage: {base_image}\npip: [six==1.16.0]\n")
    first = _build(definition, repository, index)
    assert (first["version"], first["labels"]) == ("1", ["latest"])

    write(definition, f"name: train\ndescription: only the text changed\nimage: {base_image}\npip: [six==1.16.0]\n")
    assert _build(definition, repository, index)["version"] == "1"  # metadata alone: the same version

    write(definition, f"name: train\ndescription: pin moved\nimage: {base_image}\npip: [six==1.17.0]\n")
    second = _build(definition, repository, index)
    assert (second["version"], second["labels"]) == ("2", ["latest"]) and second["digest"] != first["digest"]

    assert _ok("list", repository).split("\t")[:2] == ["train", "latest 2"]
    assert "train:1\tlabels prod" in _ok("label", repository, "train:1", "prod")

    history = _ok("history", repository, "train")
    assert f"train:1\t" in history and first["digest"] in history and second["digest"] in history
    assert "six" in history.split("train:2", 1)[1] and "1.16.0" in history and "1.17.0" in history  # the changelog

    shown = json.loads(_ok("show", repository, "train@prod", "--json"))
    assert (shown["version"], shown["image_ref"], shown["labels"]) == ("1", f"{repository}@{first['digest']}", ["prod"])
    assert shown["definition"]["pip"] == ["six==1.16.0"] and shown["lock_hash"] == first["lock_hash"]

    by_digest = _ok("show", f"{repository}@{second['digest']}", "--lock", str(tmp_path / "lock.json"))
    assert "# version: 2" in by_digest and ["six", "1.17.0"] in [w[:2] for w in json.loads((tmp_path / "lock.json").read_text())["wheels"]]
    rebuilt_definition = write(tmp_path / "shown" / "env.yml", by_digest)
    rebuilt = _build(rebuilt_definition, f"oci:{tmp_path / 'fresh'}", index)  # an empty store: a real rebuild
    assert rebuilt["cache_hit"] is False and rebuilt["digest"] == second["digest"]

    assert "train:2\tarchived" in _ok("archive", repository, "train:2")
    assert json.loads(_ok("show", repository, "train@latest", "--json"))["version"] == "1"
    assert json.loads(_ok("show", repository, "train:2", "--json"))["archived"] is True  # still there by version
    _ok("restore", repository, "train:2")
    assert json.loads(_ok("show", repository, "train@latest", "--json"))["version"] == "2"


def test_catalogue_commands_refuse_bad_references_in_one_line(tmp_path, registry):
    repository = f"{registry.host}/ml/empty-{os.getpid()}"
    for args, expected in ((("show", repository, "train"), "is not NAME:VERSION"),
                           (("show", repository, "train@latest"), "has no versions of train"),
                           (("label", repository, "train:1", "latest"), "latest is kept by mlenv")):
        done = run(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


def test_anonymous_builds_names_from_the_command_line_and_removed_labels(tmp_path, registry, base_image, index):
    repository = f"{registry.host}/ml/anonymous-{os.getpid()}"
    definition = write(tmp_path / "env.yml", f"image: {base_image}\npip: [six==1.16.0]\n")
    anonymous = _build(definition, repository, index)
    name = f"anon-{anonymous['definition_hash'][:12]}"
    assert (anonymous["name"], anonymous["version"], anonymous["labels"]) == (name, "1", ["latest"])

    named = json.loads(_ok("build", str(definition), "--registry", repository, "--index-url", index.url, "--name", "serve", "--json"))
    assert named["cache_hit"] and named["digest"] == anonymous["digest"] and (named["name"], named["version"]) == ("serve", "1")
    assert _ok("list", repository).splitlines() == ["serve\tlatest 1\t1 version\tlabels latest"]  # not the anonymous one

    assert json.loads(_ok("show", repository, f"{name}:1", "--json"))["definition"]["pip"] == ["six==1.16.0"]
    assert json.loads(_ok("show", repository, f"{name}@latest", "--json"))["image_ref"] == anonymous["image_ref"]
    assert f"# name: {name}\n# version: 1\n" in _ok("show", anonymous["image_ref"])  # by digest: its definition has no name
    assert _ok("history", repository, name).startswith(f"{name}:1\t")

    assert "serve:1\tlabels prod, latest" in _ok("label", repository, "serve:1", "prod")
    assert _ok("unlabel", repository, "serve", "prod") == "serve:1\tlabels latest\n"
    assert json.loads(_ok("show", repository, "serve:1", "--json"))["labels"] == ["latest"]
    for args, expected in ((("unlabel", repository, "serve", "latest"), "latest cannot be removed"),
                           (("unlabel", repository, "serve", "prod"), "serve has no label prod"),
                           (("build", str(definition), "--registry", repository, "--name", "my.env"), "--name: cannot be a catalogue name"),
                           (("build", str(definition), "--registry", repository, "--name", name), "--name: is reserved")):
        done = run(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
