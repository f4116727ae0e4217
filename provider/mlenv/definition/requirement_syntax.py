"""The syntax of requirement-file lines, as pip reads it: comments, continuations, where a
requirement ends and its options begin, which options exist (and which we refuse, with why), hash
values, and whether an unnamed line is a path or URL. No file or network access: `requirements`
gives the lines their meaning."""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Iterator

from packaging.requirements import Requirement

from mlenv.diagnostics.errors import SpecError
from mlenv.diagnostics.redact import masked

HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar.lz", ".tlz", ".tar.lzma", ".tar", ".zip")

PEP508_FIX = "write it as name, name==version or name>=x,<y (PEP 508)"
WHEEL_FIX = "build a wheel (pip wheel --no-deps --wheel-dir wheels <path>) and reference the .whl"
HASH_FIX = "copy the value from pip hash <file> or pip-compile --generate-hashes, e.g. --hash=sha256:<64 hex digits>"
CREDENTIALS_FIX = ("keep secrets out of the definition: write a ${INDEX_TOKEN} placeholder in their place (pip and mlenv "
                   "expand it from the environment at build time), or set PIP_INDEX_URL / MLENV_INDEX_URL in the environment")
INCLUDE_FIX = "check the path; it is relative to the file (or definition) that names it"

# Supported options, by every spelling, mapped to their long name. All of them take a value.
OPTIONS = {"-r": "--requirement", "-c": "--constraint", "-i": "--index-url", "-f": "--find-links"}
OPTIONS |= {name: name for name in ("--requirement", "--constraint", "--index-url", "--extra-index-url", "--find-links", "--hash")}
BUILD_FIX = f"remove it: nothing is built at install time; {WHEEL_FIX}, passing the options you need to pip wheel"
REJECTED = {  # pip options that would make the image depend on the machine, or build from source: (problem, fix)
    "-e": ("editable installs (-e/--editable) are not supported", WHEEL_FIX),
    "--editable": ("editable installs (-e/--editable) are not supported", WHEEL_FIX),
    "--pre": ("option --pre is not supported", "remove it and pin the pre-release itself (name==2.0rc1); a pinned pre-release installs without --pre"),
    "--no-binary": ("option --no-binary is not supported: wheels are always required", f"remove it; for a package without a wheel, {WHEEL_FIX}"),
    "--only-binary": ("option --only-binary is not supported", "remove it: wheels are always required, as if --only-binary=:all: were set"),
    "--prefer-binary": ("option --prefer-binary is not supported", "remove it: wheels are always required, as if --only-binary=:all: were set"),
    "--trusted-host": ("option --trusted-host is not supported: TLS is always verified", "remove it; for a private CA set SSL_CERT_FILE to its certificate bundle"),
    "--no-index": ("option --no-index is not supported", "remove it; to use only your own packages set --index-url to your index, or reference the .whl files directly"),
    "--require-hashes": ("option --require-hashes is not supported", "remove it: every --hash= given is checked; add --hash= to each pinned requirement"),
    "--use-feature": ("option --use-feature is not supported", "remove it: mlenv resolves and installs packages itself, so pip features do not apply"),
    "--src": ("option --src is not supported: editable installs are not", WHEEL_FIX),
    **{name: (f"option {name} is not supported", BUILD_FIX) for name in ("--global-option", "--build-option", "--install-option", "--config-settings", "-C")},
}

COMMENT = re.compile(r"(^|\s+)#.*$")
OPTION_START = re.compile(r"(?:^|\s)(?=-)")  # pip: a requirement ends at the first word starting with '-'
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PLACEHOLDERS = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+")

def inline_item(item: object, where: str) -> str:
    """A list item is one whole line: blank items and continuations point at a YAML mistake."""
    if not isinstance(item, str):
        raise fail(where, "must be a string (a requirements-file line)", 'quote the value, e.g. "six==1.16.0"', item)
    if not item.strip():
        raise fail(where, "is empty", "remove the item, or write a non-empty requirement such as six==1.16.0", item)
    if len(item.splitlines()) > 1:
        raise fail(where, "holds several lines", "give one requirement-file line per list item", item)
    text = COMMENT.sub("", item).strip()
    if text.endswith("\\"):
        raise fail(where, "ends with a line continuation (\\), but list items are lines of their own", "write the whole line in one item", item)
    return text


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines without comments, backslash continuations joined, numbered by their first line."""
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = COMMENT.sub("", raw)
        parts.append(line[:-1] if line.endswith("\\") else line)
        start = start or number
        if not line.endswith("\\"):
            if "".join(parts).strip():
                yield start, "".join(parts).strip()
            start, parts = 0, []
    if "".join(parts).strip():  # the file ended on a continuation
        yield start, "".join(parts).strip()


def split_line(text: str) -> tuple[str, str]:
    match = OPTION_START.search(text)
    if match is None:
        return text.strip(), ""
    return text[:match.start()].strip(), text[match.start():].strip()


def parse_options(text: str, where: str) -> list[tuple[str, str, str]]:
    """(long name, value, token as written) for each option; shlex-split, as pip does."""
    try:
        tokens = shlex.split(text)
    except ValueError as err:
        raise fail(where, f"cannot split the options: {err}", "close the quote, or remove the stray backslash", text) from None
    found, tokens = [], iter(tokens)
    for token in tokens:
        if not token.startswith("-") or token == "-":
            raise fail(where, f"unexpected {token!r} among the options", "write one requirement per line, before its --hash options", text)
        written, value = token.partition("=")[::2] if token.startswith("--") else (token[:2], token[2:])
        value = value if value or "=" in token else None
        if written in REJECTED:
            raise fail(where, *REJECTED[written], token)
        if written not in OPTIONS:
            raise fail(where, f"unknown option {written}", unknown_option_fix(written), token)
        if value is None:
            value = next(tokens, None)
            if value is None:
                raise fail(where, f"option {written} needs a value", f"write {written} <value>", token)
        found.append((OPTIONS[written], value, token))
    return found


def unknown_option_fix(written: str) -> str:
    close = difflib.get_close_matches(written, [*OPTIONS, *REJECTED], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"remove it{hint}; requirement lines may use -r, -c, -i/--index-url, --extra-index-url, -f/--find-links and --hash"


def unnamed_location(text: str) -> tuple[str, bool, bool] | None:
    """(location, has extras, has marker) for a URL or path line such as `./x.whl[extra]; marker`."""
    is_url = bool(SCHEME.match(text)) or is_file_url(text)
    location, semicolon, _ = text.partition("; " if is_url else ";")
    location = location.strip()
    extras = re.fullmatch(r"(.+?)\s*\[[^\]]*\]", location)
    if extras:
        location = extras.group(1)
    path_like = "/" in location or "\\" in location or location.startswith((".", "~")) or location.lower().endswith((".whl", *ARCHIVES))
    return (location, bool(extras), bool(semicolon)) if is_url or path_like else None


def has_exact_pin(requirement: Requirement) -> bool:
    """An `==` (or `===`) version among its specifiers: the lock cannot pick another version. (The
    unpinned-package warning asks this; pip's rule for --hash, `pinned`, is stricter.) A direct
    reference is pinned by its URL; a git ref that can move has its own warning."""
    if requirement.url:
        return True
    return any(s.operator in ("==", "===") and "*" not in s.version for s in requirement.specifier)


def pinned(requirement: Requirement) -> bool:
    specifiers = list(requirement.specifier)
    return len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and not specifiers[0].version.endswith(".*")


def parse_hash(value: str, where: str) -> str:
    algorithm, _, digest = value.partition(":")
    if algorithm not in HASH_LENGTHS:
        raise fail(where, "--hash must use sha256, sha384 or sha512", HASH_FIX, value)
    if not re.fullmatch(f"[0-9a-fA-F]{{{HASH_LENGTHS[algorithm]}}}", digest):
        raise fail(where, f"--hash {algorithm} must be {HASH_LENGTHS[algorithm]} hexadecimal digits", HASH_FIX, value)
    return f"{algorithm}:{digest.lower()}"


def is_file_url(text: str) -> bool:
    return text[:5].lower() == "file:"


def fail(where: str, problem: str, fix: str, value: object = None) -> SpecError:
    return SpecError(where, masked(problem), fix, masked(value) if isinstance(value, str) else value)
