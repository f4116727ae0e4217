"""The content digest of a Docker build context (`build.path`), part of the definition hash.

The digest covers only what Docker sends and what can change the image. Entries, sorted by path:

- a regular file: `(path, "file", sha256 of the content, executable)`; executable is the owner's x
  bit, as git records it. Mode bits otherwise, owner and mtime are left out (umask and checkout
  noise, and COPY --chown/--chmod sets them in the image anyway).
- a symlink: `(path, "symlink", target text)`; a target outside the context (absolute, or `..`
  past the top) is refused, since its content would not be covered.
- an empty directory (one with nothing included under it): `(path, "dir")`; COPY creates it.
- a FIFO or device: `(path, "special", kind)`. Sockets are skipped, as Docker's client does.

What is included follows `.dockerignore` exactly as the docker SDK applies it
(`docker.utils.build.PatternMatcher`, a port of Docker's own matcher, made case-sensitive as
Docker is); the ignore file is read the
way Docker reads it (BOM stripped, `#` comments only at the start of a line). A Dockerfile-specific
ignore file (`<dockerfile_path>.dockerignore`) replaces `.dockerignore`, as in BuildKit. The
Dockerfile and `.dockerignore` always count, as Docker always sends them.

Known differences of the SDK matcher from Docker's (moby/patternmatcher), none of them hit by
ordinary ignore files: a wildcard pattern is
checked against one parent directory only (Docker's deprecated `Matches`, not
`MatchesOrParentMatches`), which shows only when an exception re-opens an excluded directory;
a backslash does not escape; `[!x]`/`[^x]` negate the other way round; `**x` does not match `ax`.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path


from mlenv.digests import digest_of, sha256_file, sha256_hex
from mlenv.diagnostics.errors import SpecError

MAX_DOCKERFILE_BYTES = 100 * 1024
DEFAULT_LIMIT_MB = 1024
LIMIT_ENV = "MLENV_CONTEXT_LIMIT_MB"
DIGEST_FORMAT = "mlenv-context/1"
_TOP_LEVEL_SHOWN = 10

_CONTEXT = "build.path"
_DOCKERFILE = "build.dockerfile_path"
_INSIDE = "the Dockerfile must be inside the build context"


@dataclass(frozen=True)
class BuildContext:
    """What loading read from the context, so that nothing after it reads the context again (Docker
    itself sends the directory when it builds)."""

    path: str              # absolute path of the context directory
    dockerfile_path: str   # relative to the context, POSIX, default "Dockerfile"
    digest: str            # "sha256:<hex>" over the sorted entries
    files: int             # regular files included
    size: int              # bytes of included file content
    # Covered by the digest, hence left out of comparisons:
    dockerfile_text: str = field(default="", repr=False, compare=False)  # UTF-8, a leading BOM dropped
    entries: tuple[tuple, ...] = field(default=(), repr=False, compare=False)  # what the digest covers, sorted
    templates: object | None = None  # curated_asset.Templates: Azure ML asset templates filled in for the build


def hash_context(path: str | Path, dockerfile_path: str = "Dockerfile", size_limit: int | None = None) -> BuildContext:
    """Check the context and its Dockerfile, and digest what Docker would send, reading each file once."""
    from mlenv.definition import confine

    root = _context_root(path)
    confine.check(root, _CONTEXT, str(path))
    dockerfile = _dockerfile_path(root, dockerfile_path)
    data = _read_dockerfile(root, dockerfile)
    entries, size = _scan(root, dockerfile, {dockerfile: data}, _size_limit() if size_limit is None else size_limit)
    files = sum(1 for entry in entries if entry[1] == "file")
    return BuildContext(str(root), dockerfile, _digest(entries), files, size, _dockerfile_text(data, dockerfile), tuple(entries))


# --- the context directory and the Dockerfile ---------------------------------------------------

def _context_root(path: str | Path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip() or "\0" in str(path):
        raise SpecError(_CONTEXT, "must be the path of a directory", "write build: {path: ./context}", path)
    shown = str(Path(path).absolute())
    try:
        if not os.path.exists(path):
            raise SpecError(_CONTEXT, "the build context directory does not exist",
                            "set build.path to a directory, relative to the definition file", shown)
        if not os.path.isdir(path):
            raise SpecError(_CONTEXT, "the build context is not a directory",
                            "set build.path to the directory holding the Dockerfile and the files it copies", shown)
        return Path(path).resolve()
    except (OSError, ValueError) as error:
        raise SpecError(_CONTEXT, f"cannot open the build context ({_reason(error)})",
                        "set build.path to a readable directory", shown) from None


def _dockerfile_path(root: Path, dockerfile_path: object) -> str:
    """The normalized relative POSIX path of an existing Dockerfile inside the context."""
    if not isinstance(dockerfile_path, str) or not dockerfile_path.strip() or "\0" in dockerfile_path:
        raise SpecError(_DOCKERFILE, "must be the Dockerfile's path relative to the build context",
                        "write dockerfile_path: Dockerfile", dockerfile_path)
    normal = posixpath.normpath(dockerfile_path)
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../") or not _inside(root, root / normal):
        raise SpecError(_DOCKERFILE, _INSIDE, "move the Dockerfile into build.path and give its path relative to it, "
                        "e.g. Dockerfile or docker/Dockerfile", dockerfile_path)
    _check_dockerfile(root, normal)
    return normal


def _check_dockerfile(root: Path, dockerfile: str) -> None:
    """The Dockerfile exists, is a file and is not oversized."""
    try:
        info = os.stat(root / dockerfile)
    except (FileNotFoundError, NotADirectoryError):
        raise SpecError(_DOCKERFILE, f"there is no Dockerfile at this path in the build context {root}{_top_level(root)}",
                        "set build.dockerfile_path to the Dockerfile's path relative to build.path", dockerfile) from None
    except (OSError, ValueError) as error:
        raise _unreadable(_DOCKERFILE, dockerfile, error) from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(_DOCKERFILE, "the Dockerfile path is not a file",
                        "set build.dockerfile_path to the Dockerfile itself, e.g. docker/Dockerfile", dockerfile)
    if info.st_size > MAX_DOCKERFILE_BYTES:
        raise _oversized(dockerfile, info.st_size)


def _read_dockerfile(root: Path, dockerfile: str) -> bytes:
    try:
        data = (root / dockerfile).read_bytes()
    except OSError as error:
        raise _unreadable(_DOCKERFILE, dockerfile, error) from None
    if len(data) > MAX_DOCKERFILE_BYTES:  # it grew since it was checked
        raise _oversized(dockerfile, len(data))
    return data


def _oversized(dockerfile: str, size: int) -> SpecError:
    return SpecError(_DOCKERFILE, f"the Dockerfile {dockerfile!r} is over the limit of {MAX_DOCKERFILE_BYTES} bytes",
                     "keep the Dockerfile to instructions: put scripts and data in files of the context and COPY them", size)


def _dockerfile_text(data: bytes, dockerfile: str) -> str:
    """UTF-8, a leading BOM dropped, as Docker's parser reads it; refused here, in preview, rather
    than when the build starts."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError(_DOCKERFILE, f"the Dockerfile is not UTF-8 text (bad byte at offset {error.start})",
                        "save the Dockerfile as UTF-8", dockerfile) from None


def _top_level(root: Path) -> str:
    """'; its top level holds: a, b/' when there are few entries to name."""
    try:
        names = sorted(name + ("/" if (root / name).is_dir() else "") for name in os.listdir(root))
    except OSError:
        return ""
    if not names:
        return "; the context is empty"
    if len(names) > _TOP_LEVEL_SHOWN:
        return f"; its top level holds {len(names)} entries"
    return "; its top level holds: " + ", ".join(names)


# --- walking and hashing -------------------------------------------------------------------------

def _scan(root: Path, dockerfile: str, read: dict[str, bytes], size_limit: int) -> tuple[list[tuple], int]:
    """The sorted entries and the bytes of file content, checked against the limit first. Files
    already read (`read`: the Dockerfile, then the ignore file) are hashed from those bytes, not
    opened again."""
    included = _included(root, dockerfile, read) | {dockerfile}
    stats = {rel: _stat(root, rel, follow=rel == dockerfile) for rel in included}
    size = _check_size(root, stats, size_limit)
    parents = {parent for rel in included for parent in _parents(rel)}
    entries = [_entry(root, rel, info, read.get(rel)) for rel, info in stats.items()
               if not (stat.S_ISDIR(info.st_mode) and rel in parents)]
    return sorted((entry for entry in entries if entry is not None), key=lambda entry: entry[0]), size


def _exclude_paths(root: Path, patterns: list[str], dockerfile: str) -> set[str]:
    """The SDK's `exclude_paths` with case-sensitive patterns. Docker matches .dockerignore patterns
    case-sensitively; the SDK's Pattern lowercases both sides, which could leave a file Docker sends
    out of the digest. (Imported here: the docker SDK costs 150 ms, and only contexts need it.)"""
    from docker.utils.build import Pattern, PatternMatcher, normalize_slashes
    from docker.utils.fnmatch import fnmatchcase

    class CaseSensitivePattern(Pattern):
        def match(self, filepath):
            return fnmatchcase(normalize_slashes(filepath), self.cleaned_pattern)

    matcher = PatternMatcher([*patterns, f"!{dockerfile}"])
    matcher.patterns = [CaseSensitivePattern(("!" if p.exclusion else "") + p.cleaned_pattern) for p in matcher.patterns]
    return set(matcher.walk(str(root)))


def _included(root: Path, dockerfile: str, read: dict[str, bytes]) -> set[str]:
    """The relative POSIX paths Docker would send (files and directories)."""
    name, patterns = _ignore_patterns(root, dockerfile, read)
    try:
        paths = _exclude_paths(root, patterns, dockerfile)
    except OSError as error:
        raise _unreadable(_CONTEXT, _relative(root, error.filename), error) from None
    except re.error as error:
        raise SpecError(_CONTEXT, f"{name} has a pattern that is not a valid glob ({error.msg})",
                        "fix or remove the pattern (Docker refuses it too)", name) from None
    return {path.replace(os.sep, "/") for path in paths}


def _ignore_patterns(root: Path, dockerfile: str, read: dict[str, bytes]) -> tuple[str, list[str]]:
    """The ignore file in force and its patterns, read as Docker reads them (ignorefile.ReadAll);
    its content is kept in `read`."""
    for name in (dockerfile + ".dockerignore", ".dockerignore"):
        try:
            data = read[name] = (root / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            raise _unreadable(_CONTEXT, name, error) from None
        lines = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff").split("\n")
        return name, [line.strip() for line in lines if not line.startswith("#") and line.strip()]
    return ".dockerignore", []


def _stat(root: Path, rel: str, follow: bool) -> os.stat_result:
    """Symlinks are entries of their own, except the Dockerfile: Docker reads through it."""
    try:
        return os.stat(root / rel, follow_symlinks=follow)
    except OSError as error:
        raise _unreadable(_CONTEXT, rel, error) from None


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:index]) for index in range(1, len(parts) + 1)]


def _entry(root: Path, rel: str, info: os.stat_result, content: bytes | None) -> tuple | None:
    mode = info.st_mode
    if stat.S_ISREG(mode):
        digest = sha256_hex(content) if content is not None else _sha256(root, rel)
        return (rel, "file", digest, bool(mode & stat.S_IXUSR))
    if stat.S_ISLNK(mode):
        return (rel, "symlink", _link_target(root, rel))
    if stat.S_ISDIR(mode):
        return (rel, "dir")
    if stat.S_ISSOCK(mode):
        return None
    kind = "fifo" if stat.S_ISFIFO(mode) else "char-device" if stat.S_ISCHR(mode) else "block-device"
    return (rel, "special", kind)


def _sha256(root: Path, rel: str) -> str:
    try:
        return sha256_file(root / rel)
    except OSError as error:
        raise _unreadable(_CONTEXT, rel, error) from None


def _link_target(root: Path, rel: str) -> str:
    """The link's text, refused when it leads out of the context."""
    try:
        target = os.readlink(root / rel)
    except OSError as error:
        raise _unreadable(_CONTEXT, rel, error) from None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
        raise SpecError(_CONTEXT, f"the symlink {rel!r} points outside the build context", "copy the target into the "
                        "context and link to it with a relative path, or list the link in .dockerignore", target)
    return target


def _check_size(root: Path, stats: dict[str, os.stat_result], limit: int) -> int:
    """The total size of the regular files, refused over the limit."""
    sizes = {rel: info.st_size for rel, info in stats.items() if stat.S_ISREG(info.st_mode)}
    total = sum(sizes.values())
    if total <= limit:
        return total
    biggest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:5]
    shown = ", ".join(f"{rel} ({_human(size)})" for rel, size in biggest)
    raise SpecError(_CONTEXT, f"the build context holds {_human(total)} of files, over the limit of {_human(limit)}; "
                    f"the biggest: {shown}", f"list what the image does not need in .dockerignore, or raise {LIMIT_ENV}",
                    str(root))


def _digest(entries: list[tuple]) -> str:
    payload = json.dumps([DIGEST_FORMAT, entries], ensure_ascii=True, separators=(",", ":"))
    return digest_of(payload.encode("ascii"))


# --- small helpers -------------------------------------------------------------------------------

def _size_limit() -> int:
    """The limit in bytes: MLENV_CONTEXT_LIMIT_MB, else 1024 MB."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LIMIT_MB * 1024 * 1024
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not 0 < megabytes < float("inf"):
        raise SpecError(LIMIT_ENV, "must be a positive number of megabytes",
                        f"set it to e.g. 2048, or unset it for the {DEFAULT_LIMIT_MB} MB default", raw)
    return int(megabytes * 1024 * 1024)


def _inside(root: Path, path: Path) -> bool:
    """Whether `path`, symlinks resolved, stays under `root` (already resolved)."""
    try:
        return os.path.commonpath([os.path.realpath(path), root]) == str(root)
    except (OSError, ValueError):
        return False


def _relative(root: Path, filename: object) -> str:
    if not isinstance(filename, str):
        return "."
    relative = os.path.relpath(filename, root)
    return "." if relative == "." else relative.replace(os.sep, "/")


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


def _unreadable(where: str, rel: str, error: BaseException) -> SpecError:
    return SpecError(where, f"cannot read a file of the build context ({_reason(error)})",
                     "make it readable, or list it in .dockerignore if the image does not need it", rel)


def _human(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
