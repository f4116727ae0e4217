"""The cache's temporaries: they honour the umask, a live writer's are never swept, a dead one's are;
and its stamps: a file verified once is not hashed again until it changes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from mlenv import cache
from mlenv.cache import atomic_write, has_sha256, partial_dir, partial_file, sweep_orphans, verified_file, warnings_to


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


# -- stamps: a file hashed once is trusted while its size, times and inode are what they were -------
def _counting_hashes(monkeypatch) -> list[Path]:
    hashed: list[Path] = []
    real = cache.sha256_file

    def counted(path):
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(cache, "sha256_file", counted)
    return hashed


def _entry(tmp_path: Path, monkeypatch, data: bytes = b"the wheel's bytes " * 100) -> tuple[Path, str]:
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    entry = tmp_path / "cache" / "wheels" / "entry.whl"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(data)
    return entry, hashlib.sha256(data).hexdigest()


def test_a_file_verified_once_is_not_hashed_again_while_unchanged(tmp_path, monkeypatch):
    entry, sha = _entry(tmp_path, monkeypatch)
    hashed = _counting_hashes(monkeypatch)
    assert all(verified_file(entry, sha, "wheel") for _ in range(3))
    assert hashed == [entry], "hashed the first time only"
    assert not has_sha256(entry, "0" * 64) and len(hashed) == 2, "a stamp vouches only for the digest it was made with"


def test_a_file_written_with_its_digest_is_stamped_by_the_write(tmp_path, monkeypatch):
    entry, sha = _entry(tmp_path, monkeypatch)
    atomic_write(entry, [entry.read_bytes()], expected_sha256=sha)
    hashed = _counting_hashes(monkeypatch)
    assert verified_file(entry, sha, "wheel") and hashed == []


def _flip_in_place(path: Path, *, keep_mtime: bool = False) -> None:
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(before.st_size // 2)
        byte = handle.read(1)
        handle.seek(before.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _replace_by_rename(path: Path) -> None:
    data, mtime = path.read_bytes(), path.stat().st_mtime_ns
    other = path.with_name("other")
    other.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    os.utime(other, ns=(mtime, mtime))
    os.replace(other, path)


CHANGES = {
    "a byte flipped in place": _flip_in_place,
    "a byte flipped in place, the mtime put back": lambda p: _flip_in_place(p, keep_mtime=True),
    "truncated in place": lambda p: os.truncate(p, p.stat().st_size // 2),
    "replaced by another file of the same size and mtime": _replace_by_rename,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_stamped_file_changed_afterwards_is_hashed_again_and_caught(change, tmp_path, monkeypatch):
    entry, sha = _entry(tmp_path, monkeypatch)
    assert verified_file(entry, sha, "wheel")
    time.sleep(0.05)  # past the kernel's coarse clock tick: the change gets a time of its own
    CHANGES[change](entry)
    lines: list[str] = []
    with warnings_to(lines.append):
        assert not verified_file(entry, sha, "wheel")
    assert len(lines) == 1 and "does not match its sha256" in lines[0]


def test_a_damaged_stamp_only_costs_a_hash(tmp_path, monkeypatch):
    entry, sha = _entry(tmp_path, monkeypatch)
    assert verified_file(entry, sha, "wheel")
    for stamp in (tmp_path / "cache" / "stamps").iterdir():
        stamp.write_bytes(b"\x00 not json")
    hashed = _counting_hashes(monkeypatch)
    assert verified_file(entry, sha, "wheel") and hashed == [entry]
    assert verified_file(entry, sha, "wheel") and hashed == [entry], "and the stamp is whole again"
