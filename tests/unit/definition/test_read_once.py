"""Each file a definition points at is read once, when the definition is loaded; what comes after
(canonical form, hash, input form, diff, the Docker recipe) works from the contents and digests the
model carries. File access is seen through Python's audit hooks, which every open and folder
listing passes, whichever module makes it."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlenv.definition.load import from_mapping, load_file
from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.identity.changes import compare
from mlenv.identity.hashing import definition_hash
from tests.context_trees import realistic_context, write_tree

BASE = "registry.example/base/python:3.11-bookworm"
_ACCESS = ("open", "os.scandir", "os.listdir")
_state: dict = {"root": None, "counts": None, "forbid": False}


def _hook(event: str, args: tuple) -> None:
    if _state["root"] is None or event not in _ACCESS:
        return
    path = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else None
    if path is None or not os.path.abspath(path).startswith(_state["root"]):
        return
    if _state["forbid"]:
        raise AssertionError(f"{event} {path} after the definition was loaded")
    _state["counts"][(event, os.path.relpath(path, _state["root"]))] += 1


sys.addaudithook(_hook)  # hooks stay for the process; this one is inert outside `watching`


@contextmanager
def watching(root: Path, forbid: bool = False):
    """Counts (event, path relative to root) of accesses under root; with forbid, any access fails."""
    counts: Counter = Counter()
    _state.update(root=str(root.resolve()) + os.sep, counts=counts, forbid=forbid)
    try:
        yield counts
    finally:
        _state.update(root=None, counts=None, forbid=False)


def opens(counts: Counter) -> dict[str, int]:
    return {path: n for (event, path), n in counts.items() if event == "open"}


def listings(counts: Counter) -> dict[str, int]:
    return {path: n for (event, path), n in counts.items() if event != "open"}


def everything_downstream(spec, times: int = 3) -> None:
    """What the CLI, the provider and the pipeline do with a loaded definition, several times over."""
    for _ in range(times):
        canonical_definition(spec)
        definition_hash(spec)
        to_mapping(spec)


def links_folder(root: Path) -> Path:
    """A --find-links folder: two wheels, an sdist, and a file that is neither (not covered)."""
    return write_tree(root, {"links/alpha-1.0-py3-none-any.whl": b"alpha wheel", "links/beta-2.0-py3-none-any.whl": b"beta wheel",
                             "links/gamma-0.1.tar.gz": b"gamma sdist", "links/README": "not a package\n"}) / "links"


# --- build contexts ------------------------------------------------------------------------------

def test_a_build_context_is_read_once_from_loading_to_hash(tmp_path):
    context = realistic_context(tmp_path)
    (tmp_path / "environment.yml").write_text("build:\n  path: ./ctx\n")
    with watching(context) as counts:
        spec = load_file(tmp_path / "environment.yml")
        everything_downstream(spec)
    read = opens(counts)
    assert read and max(read.values()) == 1, {path: n for path, n in read.items() if n > 1}
    assert {"Dockerfile", ".dockerignore", "src/app/main.py"} <= set(read)
    assert "data/raw.csv" not in read  # ignored: never read at all


def test_the_dockerfile_text_travels_with_the_context(tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": b"\xef\xbb\xbfFROM scratch\nCOPY a /a\n", "a": "a"})
    spec = from_mapping({"build": {"path": str(context)}})
    assert spec.build.dockerfile_text == "FROM scratch\nCOPY a /a\n"
    (context / "Dockerfile").write_text("FROM changed\n")
    assert spec.build.dockerfile_text == "FROM scratch\nCOPY a /a\n"  # what was hashed, not what is there now


def test_the_docker_recipe_reads_no_file_of_the_context(tmp_path):
    from mlenv.builders.docker.recipe import prepare

    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": "a"})
    spec = from_mapping({"build": {"path": str(context)}})
    work = tmp_path / "work"
    work.mkdir()
    with watching(context, forbid=True):
        recipe = prepare(SimpleNamespace(spec=spec, index=None, log=lambda line: None, base_credentials=lambda ref: None), work)
    assert (recipe.context, recipe.dockerfile) == (context.resolve(), context.resolve() / "Dockerfile")


def test_a_diff_of_build_contexts_reads_no_file_and_outlives_the_folders(tmp_path):
    """`mlenv diff REV:file file` loads the old revision from a temporary tree: the file-level
    changes come from the entries carried on the model, even once that tree is gone."""
    old_root = write_tree(tmp_path / "old", {"Dockerfile": "FROM scratch\nCOPY . /\n", "app.py": "A = 1\n", "gone.py": ""})
    new_root = write_tree(tmp_path / "new", {"Dockerfile": "FROM scratch\nCOPY . /\n", "app.py": "A = 2\n", "added.py": ""})
    old, new = (from_mapping({"build": {"path": str(root)}}) for root in (old_root, new_root))
    shutil.rmtree(old_root)
    with watching(tmp_path, forbid=True):
        report = compare(old, new)
    assert [change.text for change in report.changes] == ["+ added.py", "- gone.py", "~ app.py"]


# --- requirements ---------------------------------------------------------------------------------

def test_a_find_links_folder_is_read_once(tmp_path):
    folder = links_folder(tmp_path)
    (tmp_path / "requirements.txt").write_text("--find-links ./links\nalpha==1.0\n")
    with watching(tmp_path) as counts:
        spec = from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=tmp_path)
        everything_downstream(spec)
    assert listings(counts) == {"links": 1}
    assert opens(counts) == {"requirements.txt": 1, "links/alpha-1.0-py3-none-any.whl": 1,
                             "links/beta-2.0-py3-none-any.whl": 1, "links/gamma-0.1.tar.gz": 1}
    assert spec.pip.find_links == (str(folder),)


def test_the_find_links_digest_is_the_one_it_always_was(tmp_path):
    """Pinned like the golden hashes: a local --find-links folder counts by the names and sha256 of
    its .whl/.tar.gz/.zip files, and existing definitions keep their hash."""
    links_folder(tmp_path)
    spec = from_mapping({"image": BASE, "pip": ["--find-links ./links", "alpha==1.0"]}, base_dir=tmp_path)
    assert canonical_definition(spec)["pip_index"] == {
        "find_links": ["sha256:b47286c1893b93f39735133f4bde6178d0b271a3e823010a61cb92e5cb2d790f"]}
    assert definition_hash(spec) == "a1eb4389335ff6e07a22bf23d3ceed5f2221b0ce7526af522d6a36e92b770d2b"


def test_a_changed_find_links_folder_changes_the_hash_only_when_loaded_again(tmp_path):
    folder = links_folder(tmp_path)
    lines = ["--find-links ./links", "alpha==1.0"]
    spec = from_mapping({"image": BASE, "pip": lines}, base_dir=tmp_path)
    before = definition_hash(spec)
    (folder / "alpha-1.0-py3-none-any.whl").write_bytes(b"rebuilt alpha wheel")
    assert definition_hash(spec) == before  # the loaded definition is what was read
    assert definition_hash(from_mapping({"image": BASE, "pip": lines}, base_dir=tmp_path)) != before
    (folder / "README").write_text("changed, and not a package\n")
    reloaded = from_mapping({"image": BASE, "pip": lines}, base_dir=tmp_path)
    assert definition_hash(reloaded) == definition_hash(from_mapping({"image": BASE, "pip": lines}, base_dir=tmp_path))


def test_an_include_reached_twice_is_read_once(tmp_path):
    write_tree(tmp_path, {"base.txt": "six==1.16.0\n", "dev.txt": "-r base.txt\npytest==8.3.3\n", "test.txt": "-r base.txt\n",
                          "requirements.txt": "-r dev.txt\n-r test.txt\n"})
    with watching(tmp_path) as counts:
        spec = from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=tmp_path)
    assert opens(counts) == {"requirements.txt": 1, "dev.txt": 1, "test.txt": 1, "base.txt": 1}
    assert sorted(str(r) for r in spec.pip.requirements) == ["pytest==8.3.3", "six==1.16.0"]


def test_a_private_wheel_with_several_hashes_is_read_once(tmp_path):
    import hashlib

    wheel = write_tree(tmp_path, {"wheels/private-1.0-py3-none-any.whl": b"private wheel bytes"}) / "wheels" / "private-1.0-py3-none-any.whl"
    data = wheel.read_bytes()
    line = (f"./wheels/{wheel.name} --hash=sha512:{hashlib.sha512(b'other').hexdigest()} "
            f"--hash=sha384:{hashlib.sha384(data).hexdigest()} --hash=sha256:{hashlib.sha256(data).hexdigest()}")
    with watching(tmp_path) as counts:
        spec = from_mapping({"image": BASE, "pip": [line]}, base_dir=tmp_path)
        everything_downstream(spec)
    assert opens(counts) == {f"wheels/{wheel.name}": 1}
    assert spec.pip.wheels[0].sha256 == hashlib.sha256(data).hexdigest()


# --- the canonical form is pure -------------------------------------------------------------------

@pytest.mark.parametrize("definition", ["context", "find-links", "wheel", "conda file"])
def test_canonical_definition_reads_no_file(tmp_path, definition):
    write_tree(tmp_path, {"wheels/private-1.0-py3-none-any.whl": b"private wheel",
                          "environment.yml": "channels: [conda-forge]\ndependencies: [python=3.11, {pip: [six==1.16.0]}]\n"})
    links_folder(tmp_path)
    realistic_context(tmp_path)
    mapping = {"context": {"build": {"path": "ctx"}},
               "find-links": {"image": BASE, "pip": ["-f ./links", "--find-links https://download.example/whl/", "alpha"]},
               "wheel": {"image": BASE, "pip": ["./wheels/private-1.0-py3-none-any.whl"]},
               "conda file": {"image": BASE, "conda_file": "environment.yml"}}[definition]
    spec = from_mapping(mapping, base_dir=tmp_path)
    with watching(tmp_path, forbid=True):
        everything_downstream(spec, times=1)
        compare(spec, spec)


# --- the provider: check, then create in the same process ------------------------------------------

def test_provider_create_builds_what_check_read(tmp_path, monkeypatch):
    """`pulumi up` calls check, then create with check's inputs (numbers turned into floats on the
    wire): create reuses the definition check loaded instead of reading the context again."""
    from mlenv import provider as shell
    from testbed.engine.wire import from_struct, to_struct

    realistic_context(tmp_path)
    monkeypatch.chdir(tmp_path)
    news = {"build": {"path": "./ctx"}, "inference_config": {"scoring_route": {"port": 5001, "path": "/score"}},
            "repository": "127.0.0.1:5000/envs/app", "base_image_registry_password": None}
    with watching(tmp_path) as counts:
        checked = shell.EnvironmentProvider().check({}, news)
    assert not checked.failures and max(opens(counts).values()) == 1
    props = from_struct(to_struct(checked.inputs))
    assert props["inference_config"]["scoring_route"]["port"] == 5001.0
    with watching(tmp_path, forbid=True):
        spec = shell._spec_for_build(props)
    assert definition_hash(spec) == props["definition_hash"]
    with watching(tmp_path) as counts:  # a create that no check of this process prepared loads again
        assert definition_hash(shell._spec_for_build(props)) == props["definition_hash"]
    assert opens(counts)["ctx/Dockerfile"] == 1
