"""The cache's temporaries: they honour the umask, a live writer's are never swept, a dead one's are."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

from mlenv import cache
from mlenv.cache import atomic_write, partial_dir, partial_file, sweep_orphans, verified_file, warnings_to


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_honour_the_umask_not_mkstemps_0600(tmp_path):
    for umask, expected in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        previous = os.umask(umask)
        try:
            written = atomic_write(tmp_path / f"entry-{umask:o}", [b"data"])
        finally:
            os.umask(previous)
        assert _mode(written) == expected


def _hold_and_die(folder: str, ready) -> None:
    with partial_file(Path(folder)) as (path, handle):
        handle.write(b"half")
        handle.flush()
        ready.send(str(path))
        os._exit(0)  # killed in the middle: the file stays, its lock dies with the process


def test_a_dead_writers_temporary_is_swept_a_live_ones_is_not(tmp_path):
    context = multiprocessing.get_context("fork")
    with partial_file(tmp_path) as (live, _), partial_dir(tmp_path) as stage:
        (stage / "inside").write_text("x")
        ready, child_end = context.Pipe(duplex=False)
        child = context.Process(target=_hold_and_die, args=(str(tmp_path), child_end))
        child.start()
        assert ready.poll(30)
        orphan = Path(ready.recv())
        child.join(30)
        assert orphan.exists() and orphan.read_bytes() == b"half"
        assert sweep_orphans(tmp_path, every=0) == 1
        assert not orphan.exists() and live.exists() and (stage / "inside").exists()
    assert not live.exists() and not stage.exists(), "a writer's own temporaries go when it is done"


def test_a_dead_writers_staging_folder_is_swept_and_other_names_are_kept(tmp_path):
    (tmp_path / ".part-1-abandoned").mkdir()
    (tmp_path / ".part-1-abandoned" / "deep").mkdir()
    (tmp_path / "layer.json").write_text("{}")
    (tmp_path / ".part-link").symlink_to(tmp_path / "layer.json")
    assert sweep_orphans(tmp_path, every=0) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".part-link", "layer.json"], "a symlink is never followed"


def test_a_temporary_removed_before_its_lock_is_made_again(tmp_path, monkeypatch):
    """The race a sweeper can win: it removes the entry between its creation and its lock."""
    real_flock, raced = cache.fcntl.flock, []

    def flock_after_a_sweep(fd, operation):
        if not raced:
            raced.append(True)
            for entry in tmp_path.glob(".part-*"):
                entry.unlink()
        return real_flock(fd, operation)

    monkeypatch.setattr(cache.fcntl, "flock", flock_after_a_sweep)
    with partial_file(tmp_path) as (path, handle):
        handle.write(b"kept")
        handle.flush()
        assert raced and path.read_bytes() == b"kept"


def test_a_damaged_entry_is_reported_to_the_builds_log(tmp_path):
    entry = tmp_path / "wheel.whl"
    entry.write_bytes(b"not the wheel")
    lines: list[str] = []
    with warnings_to(lines.append):
        assert not verified_file(entry, "0" * 64, "wheel")
        assert not verified_file(tmp_path / "missing.whl", "0" * 64, "wheel")
    assert lines == [f"warning: the cached wheel {entry} does not match its sha256 000000000000…: fetching it again"]
