"""Definitions at a git revision (`REV:PATH`), for `mlenv diff main:envs/train.yml envs/train.yml`.

Only the blobs the definition can point at are read (`git ls-tree` lists the tree without reading
any content, `git cat-file --batch` reads the chosen blobs): the definition's own folder with
everything under it (conda files, requirements includes, build contexts, MLflow and asset folders),
and the files directly in each folder above it (a `-r ../requirements.txt`). A blob missing from
the object store elsewhere in the repository (a partial clone, a pruned LFS object) is not read, so
it cannot fail the comparison; one the definition needs is reported as missing by name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.model import EnvironmentSpec
from mlenv.definition.confine import allowed_folders, allowing
from mlenv.definition.load import load_file

REVISION_FIX = "name an existing revision (a branch, tag or commit) inside a git checkout"


@contextmanager
def load_definition(argument: str, image: str | None = None):
    """A file path, or REV:PATH (PATH relative to the current directory, as git show takes it);
    `image`: the base image of a definition that names none. A curated reference is no revision."""
    from mlenv.definition.curated import is_reference

    if Path(argument).exists() or ":" not in argument or is_reference(argument):
        yield load_file(argument, image=image)
        return
    revision, path = argument.split(":", 1)
    with tempfile.TemporaryDirectory(prefix="mlenv-rev-") as work:
        yield _load_at(revision, path, Path(work), image)


def _load_at(revision: str, path: str, work: Path, image: str | None) -> EnvironmentSpec:
    top = _git("rev-parse", "--show-toplevel").decode().strip()
    prefix = _git("rev-parse", "--show-prefix").decode().strip()
    commit = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=top, what=f"revision {revision}").decode().strip()
    wanted = PurePosixPath(os.path.normpath(f"{prefix}{path}").replace(os.sep, "/"))
    entries = _tree(commit, top)
    if str(wanted) not in entries and not any(p.startswith(f"{wanted}/") for p in entries):
        raise SpecError("revision", f"{path} does not exist at {revision}", f"check the path (relative to the current directory) with git show {revision}:{path}", f"{revision}:{path}")
    folder = wanted.parent if str(wanted) in entries else wanted
    _materialize(work, {p: e for p, e in entries.items() if _needed(PurePosixPath(p), wanted, folder)}, top)
    with allowing(_in_export(top, work)):  # an allowed folder of the checkout is the same folder of the revision
        return load_file(work / wanted, image=image)


def _in_export(top: str, work: Path) -> list[Path]:
    """The allowed folders that lie in the checkout, as the same folders of the exported revision."""
    real_top = os.path.realpath(top)
    inside = [folder for folder in allowed_folders() if os.path.commonpath([folder, real_top]) == real_top]
    return [work / os.path.relpath(folder, real_top) for folder in inside]


def _tree(commit: str, top: str) -> dict[str, tuple[str, str]]:
    """path → (mode, blob id) for every file and symlink at the commit; no content is read."""
    listing = _git("ls-tree", "-r", "-z", "--full-tree", commit, cwd=top, what=f"the tree of {commit[:12]}")
    entries = {}
    for record in filter(None, listing.split(b"\0")):
        meta, name = record.split(b"\t", 1)
        mode, kind, oid = meta.decode().split()
        if kind == "blob":
            entries[name.decode(errors="surrogateescape")] = (mode, oid)
    return entries


def _needed(path: PurePosixPath, definition: PurePosixPath, folder: PurePosixPath) -> bool:
    """The definition, what lies under its folder (the definition itself when it is a folder), and
    the files directly in the folders above."""
    return path == definition or folder in path.parents or path.parent in (folder, *folder.parents)


def _materialize(work: Path, entries: dict[str, tuple[str, str]], top: str) -> None:
    """Write the chosen blobs (symlinks as symlinks, executable bits kept); missing blobs are skipped."""
    if not entries:
        return
    order = list(entries.items())
    try:
        done = subprocess.run(["git", "cat-file", "--batch"], input="".join(f"{oid}\n" for _, (_, oid) in order).encode(),
                              capture_output=True, cwd=top, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SpecError("revision", f"cannot run git: {error}", "install git, or compare two files") from None
    output, at = done.stdout, 0
    for path, (mode, _oid) in order:
        header_end = output.index(b"\n", at)
        header = output[at:header_end].split()
        at = header_end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        data, at = output[at:at + size], at + size + 1
        _write(work / path, mode, data)


def _write(target: Path, mode: str, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "120000":
        target.symlink_to(os.fsdecode(data))
        return
    target.write_bytes(data)
    if mode == "100755":
        target.chmod(0o755)


def _git(*args: str, cwd: str | None = None, what: str = "a git repository") -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, cwd=cwd, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SpecError("revision", f"cannot run git: {error}", "install git, or compare two files") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SpecError("revision", f"git cannot read {what}: {message[-1] if message else 'failed'}", REVISION_FIX)
    return done.stdout
