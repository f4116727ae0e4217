"""The no-op replay's parts (replay.py): what it watches, what its key covers, when a memo is kept,
and that a replay answers only when every input and every tag it noted is unchanged. The stores
are real OCI layouts in a temporary folder."""

from __future__ import annotations

import json
import os

import pytest

from mlenv import replay
from mlenv.oci.layout import LayoutStore
from mlenv.oci.mediatypes import OCI_MANIFEST

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()


@pytest.fixture(autouse=True)
def memos(tmp_path_factory, monkeypatch):
    """The memos' folder, in a cache outside the definitions' folders."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("MLENV_CACHE_DIR", str(cache))
    return cache / replay.FOLDER


def _outputs(layout: str, **changes) -> dict:
    outputs = {"image_ref": f"oci:{layout}@sha256:" + "a" * 64, "digest": "sha256:" + "a" * 64, "tag": "mlenv-x", "tag_ref": f"oci:{layout}:mlenv-x",
               "definition_hash": "f" * 64, "lock_hash": "", "packages": [], "cache_hit": True, "bytes_pushed": 0,
               "name": "anon-ffffffffffff", "version": "1", "labels": ["latest"]}
    return {**outputs, **changes}


def _hit(tmp_path, printed=(("out", "cache hit: …"),), **changes):
    """A recorded cache hit of `mlenv build env.yml` into a layout: (argv, definition, store)."""
    definition = tmp_path / "env.yml"
    definition.write_text("pip: [six==1.16.0]\n")
    store = LayoutStore(tmp_path / "images")
    store.put_manifest("mlenv-x", MANIFEST, OCI_MANIFEST)
    recorder = replay.Recorder().wrap(store)
    with replay.watching_inputs() as watched:
        definition.read_text()
    recorder.get_manifest("mlenv-x")
    recorder.list_tags()
    argv = ["build", str(definition)]
    replay.remember(argv, watched, str(definition), recorder, printed=list(printed), outputs=_outputs(str(store.root), **changes), as_json=False)
    return argv, definition, store


def test_only_reads_and_listings_inside_the_block_are_watched(tmp_path):
    (tmp_path / "read.txt").write_text("x")
    with replay.watching_inputs() as watched:
        (tmp_path / "read.txt").read_text()
        (tmp_path / "written.txt").write_text("x")
        with open(tmp_path / "appended.txt", "a"):
            pass
        os.listdir(tmp_path / ".")
    (tmp_path / "later.txt").write_text("x")
    (tmp_path / "later.txt").read_text()
    assert watched == {str(tmp_path / "read.txt"), str(tmp_path)}


def test_module_files_are_left_out_and_the_folder_of_a_file_read_is_kept(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text("x")
    kept = replay._identities({str(tmp_path / "sub" / "a.yml"), json.__file__, os.path.dirname(json.__file__)}, str(tmp_path / "gone.yml"))
    assert set(kept) == {str(tmp_path / "sub" / "a.yml"), str(tmp_path / "sub"), str(tmp_path / "gone.yml"), str(tmp_path)}
    assert kept[str(tmp_path / "gone.yml")] is None and kept[str(tmp_path / "sub")]["inode"] == os.stat(tmp_path / "sub").st_ino


def test_the_key_covers_the_settings_but_no_password(monkeypatch):
    argv = ["build", "env.yml"]
    monkeypatch.setenv("MLENV_REGISTRY_PASSWORD", "one")
    monkeypatch.setenv("MLENV_INDEX_URL", "https://user:one@index.example/simple")
    key = replay._key(argv)
    monkeypatch.setenv("MLENV_REGISTRY_PASSWORD", "two")
    monkeypatch.setenv("MLENV_INDEX_URL", "https://user:two@index.example/simple")
    assert replay._key(argv) == key
    monkeypatch.setenv("MLENV_BASE_IMAGE", "127.0.0.1:5000/base:1")
    assert replay._key(argv) != key
    assert replay._key(["build", "env.yml", "--json"]) != replay._key(argv)


def test_a_recorded_hit_replays_what_it_printed(tmp_path, capsys):
    argv, _, _ = _hit(tmp_path, printed=(("err", "warning: w"), ("out", "cache hit: …")))
    assert replay.replayed(argv)
    out, err = capsys.readouterr()
    assert out.startswith("cache hit: …\noci:") and "cache hit, nothing built or pushed in" in out and err == "warning: w\n"


def test_a_changed_input_or_tag_does_not_replay(tmp_path):
    argv, definition, store = _hit(tmp_path)
    assert replay.replayed(argv)
    store.put_manifest("anon-ffffffffffff.prod", MANIFEST, OCI_MANIFEST)  # a new tag of the name: its labels changed
    assert not replay.replayed(argv)
    argv, definition, store = _hit(tmp_path)
    store.put_manifest("someone-else", MANIFEST, OCI_MANIFEST)  # another name's tag changes nothing
    assert replay.replayed(argv)
    store.put_manifest("mlenv-x", MANIFEST + b" ", OCI_MANIFEST)  # the hash tag moved
    assert not replay.replayed(argv)
    argv, definition, store = _hit(tmp_path)
    definition.write_text("pip: [six==1.17.0]\n")
    assert not replay.replayed(argv)


def test_no_memo_is_kept_for_a_build_another_call_or_a_secret(tmp_path, memos):
    _hit(tmp_path, cache_hit=False)
    _hit(tmp_path, version="")  # not registered
    _hit(tmp_path, printed=(("out", "index https://user:pw@index.example/simple"),))
    assert not memos.exists()
    store = LayoutStore(tmp_path / "images")
    recorder = replay.Recorder().wrap(store)
    recorder.has_blob("sha256:" + "0" * 64)  # a call a replay could not make again
    assert not recorder.only_tags
    replay.remember(["build", "env.yml"], set(), "env.yml", recorder, printed=[], outputs=_outputs(str(store.root)), as_json=False)
    assert not memos.exists()
    assert not replay.replayed(["build", str(tmp_path / "env.yml")])


def test_a_damaged_memo_is_a_full_run(tmp_path):
    argv, _, _ = _hit(tmp_path)
    replay._memo_path(argv).write_text("{not json")
    assert not replay.replayed(argv)


def test_the_oldest_memos_go_first(tmp_path, monkeypatch, memos):
    monkeypatch.setattr(replay, "MEMOS", 2)
    for n in range(4):
        (tmp_path / f"env{n}").mkdir()
        _hit(tmp_path / f"env{n}")
    assert len(list(memos.glob("*.json"))) == 2


def test_the_key_covers_the_working_folder_and_mlenv_s_own_files(tmp_path, monkeypatch):
    argv = ["build", "env.yml"]
    key = replay._key(argv)
    monkeypatch.chdir(tmp_path)
    assert replay._key(argv) != key
    own = os.path.join(os.path.dirname(replay.__file__), "build_report.py")
    before = os.stat(own)
    try:
        os.utime(own, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # an edit or an upgrade of mlenv
        edited = replay._key(argv)
    finally:
        os.utime(own, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited != replay._key(argv)
