"""A definition reads only files under its own folder, and only regular files of bounded size.

`mlenv validate` runs in CI on pull requests nobody has reviewed yet: a definition must not make it
read `/etc/passwd`, `/proc/self/environ` or a FIFO, nor push a wheel from elsewhere into a layer.
Every loader opens files through here. The roots: the folder of the definition (a file given by its
path — it is always allowed itself — or the `base_dir` a mapping comes with), plus the folders the
user names (`--allow-path DIR`, `MLENV_ALLOWED_PATHS`, os.pathsep-separated). Paths are compared
with symlinks resolved, so a link pointing out is refused like the path it points at. The first
loader entered sets the roots; the loaders it calls keep them. A mapping from program code
(keyword arguments, provider inputs) or a direct call of a parser sets none: code is trusted as it is.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from mlenv.diagnostics.errors import SpecError

ALLOWED_ENV = "MLENV_ALLOWED_PATHS"
MAX_FILE_BYTES = 10 * 1024 * 1024
ALLOW_FIX = f"keep the file inside the definition's folder, or allow its folder with --allow-path DIR (or {ALLOWED_ENV})"
_roots: ContextVar[tuple[str, ...] | None] = ContextVar("mlenv_definition_roots", default=None)
_allowed: ContextVar[tuple[str, ...]] = ContextVar("mlenv_allowed_paths", default=())


@contextmanager
def allowing(paths):
    """Folders the user allows besides the definition's own (the CLI's --allow-path)."""
    token = _allowed.set((*_allowed.get(), *(str(p) for p in paths or ())))
    try:
        yield
    finally:
        _allowed.reset(token)


@contextmanager
def definition_root(*roots: str | os.PathLike):
    """Confine reads to `roots` (and the allowed folders) unless an outer loader already did."""
    if _roots.get() is not None:
        yield
        return
    token = _roots.set(tuple(_real(r) for r in (*roots, *_allowed.get(), *_env_allowed()) if str(r).strip()))
    try:
        yield
    finally:
        _roots.reset(token)


@contextmanager
def separate_root():
    """A definition that is not the user's (a curated version file the package ships) is read under
    its own root, whatever folder the definition that named it is confined to."""
    token = _roots.set(None)
    try:
        yield
    finally:
        _roots.reset(token)


def check(path: str | os.PathLike, where: str, written: object) -> str:
    """The path with symlinks resolved; a SpecError when it leads outside every root."""
    real = _real(path)
    roots = _roots.get()
    if roots is None or any(_under(real, root) for root in roots):
        return real
    raise SpecError(where, "points outside the definition's folder", ALLOW_FIX, written)


def read_bytes(path: str | os.PathLike, where: str, written: object, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of a regular file inside the roots, at most `limit` bytes. A FIFO, device or
    directory is refused without blocking on it; OSError when the file cannot be opened."""
    check(path, where, written)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise SpecError(where, "is not a regular file (a folder, FIFO or device)", "name a regular file", written)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SpecError(where, f"the file is over the limit of {limit // (1024 * 1024)} MiB", "name a smaller file", written)
    return data


def read_text(path: str | os.PathLike, where: str, written: object) -> str:
    """`read_bytes` as UTF-8 (a leading BOM dropped); UnicodeDecodeError and OSError are the caller's."""
    return read_bytes(path, where, written).decode("utf-8-sig")


def allowed_folders() -> list[str]:
    """Every folder the user allows (--allow-path and MLENV_ALLOWED_PATHS), resolved."""
    return [_real(p) for p in (*_allowed.get(), *_env_allowed())]


def _env_allowed() -> list[str]:
    return [p for p in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if p.strip()]


def _real(path: str | os.PathLike) -> str:
    try:
        return os.path.realpath(os.path.abspath(Path(path)))
    except (ValueError, OSError):  # a NUL in the path: nothing can be opened there, the caller says so
        return os.path.abspath(str(path).replace("\0", ""))


def _under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # another drive on Windows
        return False
