"""Definitions at a git revision (`REV:PATH`), for `mlenv diff main:envs/train.yml envs/train.yml`.

The revision's whole tree is exported to a temporary directory (`git archive`, which keeps
executable bits), so everything the definition points at — requirements includes, conda files,
build contexts — is read as it was at that revision.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.model import EnvironmentSpec
from mlenv.definition.load import load_file


@contextmanager
def load_definition(argument: str, image: str | None = None):
    """A file path, or REV:PATH (PATH relative to the current directory, as git show takes it);
    `image`: the base image of a definition that names none."""
    if Path(argument).exists() or ":" not in argument:
        yield load_file(argument, image=image)
        return
    revision, path = argument.split(":", 1)
    with tempfile.TemporaryDirectory(prefix="mlenv-rev-") as work:
        yield _load_at(revision, path, Path(work), image)


def _load_at(revision: str, path: str, work: Path, image: str | None) -> EnvironmentSpec:
    top = _git("rev-parse", "--show-toplevel").decode().strip()
    prefix = _git("rev-parse", "--show-prefix").decode().strip()
    archive = _git("archive", "--format=tar", revision, cwd=top, what=f"revision {revision}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work, filter="tar")
    target = work / prefix / path
    if not target.exists():
        raise SpecError("revision", f"{path} does not exist at {revision}", f"check the path (relative to the current directory) with git show {revision}:{path}", f"{revision}:{path}")
    return load_file(target, image=image)


def _git(*args: str, cwd: str | None = None, what: str = "a git repository") -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, cwd=cwd, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SpecError("revision", f"cannot run git: {error}", "install git, or compare two files") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SpecError("revision", f"git cannot read {what}: {message[-1] if message else 'failed'}", "name an existing revision (a branch, tag or commit) inside a git checkout")
    return done.stdout
