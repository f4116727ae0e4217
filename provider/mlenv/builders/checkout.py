"""Where an image was first built from: the git checkout its definition lives in, as the OCI
annotations `org.opencontainers.image.source` (the remote's URL, credentials removed) and
`org.opencontainers.image.revision` (the commit).

Metadata of the first build only: never in the definition hash (the same definition in another
checkout is the same environment, and a cache hit), but in the manifest, so in the digest.

A revision is a claim that this commit holds what was built, so it is written only for a clean
checkout (no tracked file changed, the definition itself tracked); a dirty one gets the source and
no revision: a `-dirty` suffix would be a revision that no tool can check out. Untracked files do
not count: they are what builds leave (an image layout, caches), not what a definition reads
unseen. Git is asked with its hooks and fsmonitor off and takes no lock, so a checkout's own
configuration runs nothing; no git, no checkout, or no remote: no annotations.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlenv.diagnostics.redact import public_url

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
_SAFE = ("--no-optional-locks", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def source_annotations(definition: str | Path) -> dict[str, str]:
    """The source and revision annotations for a definition file or folder ({} outside a checkout)."""
    path = Path(definition).resolve()
    folder = path if path.is_dir() else path.parent
    url = _remote_url(folder)
    if not url:
        return {}
    found = {SOURCE: public_url(url)}
    commit = _git(folder, "rev-parse", "--verify", "HEAD")
    if commit and _clean(folder, path):
        found[REVISION] = commit
    return found


def _remote_url(folder: Path) -> str | None:
    """The current branch's remote, else `origin`, else the only remote."""
    branch = _git(folder, "symbolic-ref", "--quiet", "--short", "HEAD")
    remote = _git(folder, "config", "--get", f"branch.{branch}.remote") if branch else None
    remotes = (_git(folder, "remote") or "").split()
    if remote not in remotes:
        remote = "origin" if "origin" in remotes else remotes[0] if len(remotes) == 1 else None
    return _git(folder, "remote", "get-url", remote) if remote else None


def _clean(folder: Path, definition: Path) -> bool:
    tracked = _git(folder, "ls-files", "--", str(definition))
    return bool(tracked) and _git(folder, "status", "--porcelain", "--untracked-files=no") == ""


def _git(folder: Path, *args: str) -> str | None:
    """git's output, stripped; None when it fails or is not installed."""
    try:
        done = subprocess.run(["git", *_SAFE, "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
