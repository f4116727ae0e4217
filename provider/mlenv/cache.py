"""The content-addressed cache under ~/.cache/mlenv (or $MLENV_CACHE_DIR): wheels, base-image blobs,
built layers and base-image facts, each keyed by a digest so an entry can never be stale.

Every entry is checked when it is used (a digest, or a parse) and rebuilt with a warning when it is
damaged. A file's digest is read from a stamp instead of hashing the file again while the stamp,
written when the file was last hashed or written, still matches the file's size, mtime, ctime, inode
and device: a write, truncation, replacement or touch changes one of those and the file is hashed
again. What a stamp does not see: a change that keeps all five (bit rot below the file system, a
write to the raw device, a write within the same clock tick as the stamp, which the coarse kernel
clock can give a few milliseconds). Every file is written under a temporary name in the cache's `tmp/` folder and renamed into
place; the writer holds an flock on its temporary file or folder, so a later build removes the ones
no live process holds (what a killed build leaves behind). Files honour the umask, as other tools'.
"""

from __future__ import annotations

import contextvars
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from io import BufferedWriter
from pathlib import Path

from mlenv.digests import sha256_file, sha256_hex


def cache_dir() -> Path:
    """$MLENV_CACHE_DIR, else ~/.cache/mlenv (a machine setting: settings.py re-exports it)."""
    return Path(os.environ.get("MLENV_CACHE_DIR") or Path.home() / ".cache" / "mlenv")

PARTIAL_PREFIX = ".part-"
SWEEP_EVERY = 60.0  # seconds: how often one process looks for orphans in one folder
_last_sweep: dict[Path, float] = {}
_warning_sink: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("mlenv_cache_warnings", default=None)


def cache_root(override: str | Path | None = None) -> Path:
    """The cache folder, made if missing; what killed builds left in its tmp/ is swept (at most
    once a minute), so any later build cleans up, whether it writes to the cache or not."""
    root = Path(override) if override else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    sweep_orphans(root / "tmp")
    return root


def scratch_dir() -> Path:
    """Where the cache's temporary files live: one folder on the cache's file system, swept."""
    return cache_root() / "tmp"


# -- warnings: a damaged entry is reported in the build log of the build that repaired it -----------
@contextmanager
def warnings_to(log: Callable[[str], None]) -> Iterator[None]:
    """Send cache warnings raised in this thread (context) to `log`, e.g. a build's BuildLog."""
    token = _warning_sink.set(log)
    try:
        yield
    finally:
        _warning_sink.reset(token)


def warn(message: str) -> None:
    sink = _warning_sink.get()
    if sink is None:
        print(f"warning: {message}", file=sys.stderr)
    else:
        sink(f"warning: {message}")


def verified_file(path: Path, sha256: str, what: str) -> bool:
    """Whether the cached file exists and has this sha256; a damaged one is reported (the caller
    fetches it again, which replaces it atomically)."""
    if not path.is_file():
        return False
    if has_sha256(path, sha256):
        return True
    warn(f"the cached {what} {path} does not match its sha256 {sha256[:12]}…: fetching it again")
    return False


# -- stamps: a file hashed once is not hashed again while it is unchanged --------------------------
def has_sha256(path: Path, sha256: str) -> bool:
    """Whether the file has this sha256 (hex): trusted from its stamp while that still matches the
    file (see the module docstring), else hashed, and stamped when it matches."""
    if _stamp_matches(path, sha256):
        return True
    if sha256_file(path) != sha256:
        return False
    stamp_sha256(path, sha256)
    return True


def stamp_sha256(path: Path, sha256: str) -> None:
    """Record that the file, as it is now, has this sha256 (its writer or a reader just hashed it).
    Best effort: without a stamp the file is only hashed again."""
    with suppress(OSError):
        write_atomically(_stamp_path(path), json.dumps({"sha256": sha256, **file_identity(path)}).encode())


def _stamp_matches(path: Path, sha256: str) -> bool:
    try:
        return json.loads(_stamp_path(path).read_bytes()) == {"sha256": sha256, **file_identity(path)}
    except (OSError, ValueError):  # no stamp, a damaged one, or no file
        return False


def file_identity(path: str | Path) -> dict[str, int]:
    """What changes when a file's content is changed in any ordinary way."""
    found = os.stat(path)
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "ctime_ns": found.st_ctime_ns,
            "inode": found.st_ino, "device": found.st_dev}


def _stamp_path(path: Path) -> Path:
    return cache_dir() / "stamps" / (sha256_hex(os.path.abspath(path).encode()) + ".json")


# -- temporary files: locked while written, renamed into place, orphans swept -----------------------
@contextmanager
def partial_file(directory: Path) -> Iterator[tuple[Path, BufferedWriter]]:
    """A new, locked temporary file in directory (mode 0666 less the umask, unlike mkstemp's 0600).
    Rename it into place inside the block; whatever is left at the end is removed."""
    path, fd = _locked_new(directory, lambda p: os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
    handle = os.fdopen(fd, "wb")
    try:
        yield path, handle
    finally:
        handle.close()
        with suppress(FileNotFoundError):
            path.unlink()


@contextmanager
def partial_dir(directory: Path) -> Iterator[Path]:
    """A new, locked temporary folder in directory (a staging tree), removed at the end."""
    def make(path: Path) -> int:
        path.mkdir()
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    path, fd = _locked_new(directory, make)
    try:
        yield path
    finally:
        import shutil  # here, not above: a no-op replay imports this module and removes nothing (replay.py)

        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def _locked_new(directory: Path, make: Callable[[Path], int]) -> tuple[Path, int]:
    """Create a uniquely named entry and flock it. A sweeper may take the lock between the two
    steps and remove the entry: then the name no longer leads to our inode, and we try another."""
    directory.mkdir(parents=True, exist_ok=True)
    sweep_orphans(directory)
    for _ in range(100):
        path = directory / f"{PARTIAL_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
        try:
            fd = make(path)
        except FileNotFoundError:  # a folder removed before we could open it
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_inode(path, fd):
            return path, fd
        os.close(fd)
    raise OSError(f"cannot create a temporary in {directory}: each one was removed at once")


def _same_inode(path: Path, fd: int) -> bool:
    try:
        found, held = path.stat(), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def sweep_orphans(directory: Path, prefixes: tuple[str, ...] = (PARTIAL_PREFIX,), every: float = SWEEP_EVERY) -> int:
    """Remove the temporaries in directory that no live process holds locked (what a killed build
    left), at most once per `every` seconds a folder; returns how many were removed."""
    now = time.monotonic()
    if now - _last_sweep.get(directory, -every) < every:
        return 0
    _last_sweep[directory] = now
    try:
        names = [name for name in os.listdir(directory) if name.startswith(prefixes)]
    except FileNotFoundError:
        return 0
    return sum(_remove_if_orphan(directory / name) for name in names)


def _remove_if_orphan(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:  # gone already, or a symlink: not ours
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if path.is_dir():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return True
    except BlockingIOError:  # a live writer holds it
        return False
    finally:
        os.close(fd)


def atomic_write(target: Path, chunks: Iterable[bytes], expected_sha256: str | None = None) -> Path:
    """Write chunks to target via a temporary file; verify the sha256 before the rename (and stamp
    the file with it, so its next use does not hash it again)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with partial_file(scratch_dir()) as (temporary, out):
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ValueError(f"sha256 mismatch: expected {expected_sha256}, got {digest.hexdigest()}")
        os.replace(temporary, target)
    if expected_sha256:
        stamp_sha256(target, expected_sha256)
    return target


def write_atomically(target: Path, data: bytes) -> Path:
    """A small metadata file (JSON) replaced whole: a reader sees the old content or the new."""
    return atomic_write(target, [data])
