"""pip requirements - requirements files and inline lists of requirement-file lines - as one `PipSpec`.

Users write `pip: [...]` in YAML, `pip: requirements.txt`, or a conda file's `pip:` subsection; all
three are requirement-file lines. We accept the part of pip's format that builds the same image on
every machine: PEP 508 requirements (parsed by `packaging`, never by hand), -r/-c includes, index
options, `--hash=` pins and private wheels by path, whose content enters the definition hash.
Whatever pip would build from source, fetch from an arbitrary URL, or use to weaken TLS is a
`SpecError` naming the line, the value and the fix. Secrets in URLs are never echoed.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from .errors import SpecError, SpecWarning

HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar.lz", ".tlz", ".tar.lzma", ".tar", ".zip")

PEP508_FIX = "write it as name, name==version or name>=x,<y (PEP 508)"
WHEEL_FIX = "build a wheel (pip wheel --no-deps --wheel-dir wheels <path>) and reference the .whl"
DIRECT_URL_FIX = "publish it to an index and pin it by version (name==1.2.3), or download the wheel and reference the file"
HASH_FIX = "copy the value from pip hash <file> or pip-compile --generate-hashes, e.g. --hash=sha256:<64 hex digits>"
CREDENTIALS_FIX = ("keep secrets out of the definition: write a ${INDEX_TOKEN} placeholder in their place (pip and mlenv "
                   "expand it from the environment at build time), or set PIP_INDEX_URL / MLENV_INDEX_URL in the environment")
INCLUDE_FIX = "check the path; it is relative to the file (or definition) that names it"

# Supported options, by every spelling, mapped to their long name. All of them take a value.
OPTIONS = {"-r": "--requirement", "-c": "--constraint", "-i": "--index-url", "-f": "--find-links"}
OPTIONS |= {name: name for name in ("--requirement", "--constraint", "--index-url", "--extra-index-url", "--find-links", "--hash")}
_BUILD_FIX = f"remove it: nothing is built at install time; {WHEEL_FIX}, passing the options you need to pip wheel"
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
    **{name: (f"option {name} is not supported", _BUILD_FIX) for name in ("--global-option", "--build-option", "--install-option", "--config-settings", "-C")},
}

_COMMENT = re.compile(r"(^|\s+)#.*$")
_OPTION_START = re.compile(r"(?:^|\s)(?=-)")  # pip: a requirement ends at the first word starting with '-'
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PLACEHOLDERS = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+")
_USERINFO = re.compile(r"://([^/\s]*)@")


@dataclass(frozen=True)
class PrivateWheel:
    """A local .whl path given as a requirement line; its content enters the definition hash."""

    name: str  # canonical (PEP 503)
    version: str
    filename: str
    path: str  # absolute path
    sha256: str


@dataclass(frozen=True)
class PipSpec:
    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()  # from -c / --constraint files
    hashes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (canonical name, sorted "sha256:..." values) from --hash=
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()  # URLs as written; local directories made absolute
    wheels: tuple[PrivateWheel, ...] = ()
    warnings: tuple[SpecWarning, ...] = ()


def parse_lines(lines: Sequence[object], base_dir: Path, origin: str = "pip") -> PipSpec:
    """An inline list of requirement-file lines (`pip: [...]`, a conda file's `pip:` subsection);
    paths in it are relative to `base_dir`, the definition's folder."""
    if isinstance(lines, (str, bytes)) or not isinstance(lines, Sequence):
        raise _fail(origin, "must be a list of requirement lines", "write pip: [numpy==1.26.4, requests] or pip: requirements.txt", lines)
    parser = _Parser(origin, Path(os.path.abspath(base_dir)))
    for index, item in enumerate(lines):
        where = f"{origin}[{index}]"
        parser.line(_inline_item(item, where), where, parser.root, constraint=False)
    return parser.result()


def parse_file(path: Path | str, origin: str = "pip") -> PipSpec:
    """A requirements file, with its -r/-c includes; paths in it are relative to its own folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise _fail(origin, "must be the path of a requirements file", "write pip: requirements.txt", path)
    absolute = Path(os.path.abspath(path))
    parser = _Parser(origin, absolute.parent)
    parser.read(absolute, origin, str(path), constraint=False)
    return parser.result()


def merge(*specs: PipSpec, origin: str = "pip") -> PipSpec:
    """Several sources (a pip list, a conda pip subsection, pip_constraints) as one spec, with the
    same checks a single file gets: one index URL, each package listed once."""
    index_urls: dict[str, str] = {}  # first spelling kept: .../simple and .../simple/ are one index
    for spec in specs:
        if spec.index_url:
            index_urls.setdefault(spec.index_url.rstrip("/"), spec.index_url)
    if len(index_urls) > 1:
        first, second = list(index_urls.values())[:2]
        raise _fail(origin, f"two different index URLs ({first!r} and {second!r})", "keep one --index-url; add the others with --extra-index-url")
    requirements = _identical_once([r for spec in specs for r in spec.requirements], _requirement_key)
    wheels = _identical_once([w for spec in specs for w in spec.wheels], lambda w: w.sha256)
    _check_unique(requirements, wheels, origin)
    hashes: dict[str, set[str]] = {}
    for spec in specs:
        for name, values in spec.hashes:
            hashes.setdefault(name, set()).update(values)
    return PipSpec(
        requirements=requirements,
        constraints=tuple(r for spec in specs for r in spec.constraints),
        hashes=_hash_pairs(hashes),
        index_url=next(iter(index_urls.values()), None),
        extra_index_urls=_unique(u for spec in specs for u in spec.extra_index_urls),
        find_links=_unique(f for spec in specs for f in spec.find_links),
        wheels=wheels,
        warnings=tuple(w for spec in specs for w in spec.warnings),
    )


@dataclass
class _Parser:
    """Collects one parse: the files being read (for cycles), those already read (an include reached
    twice, as in base.txt from both dev.txt and test.txt, is read once), and what the lines add."""

    origin: str
    root: Path  # where shown file names are relative to
    requirements: list[Requirement] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)
    hashes: dict[str, set[str]] = field(default_factory=dict)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    wheels: list[PrivateWheel] = field(default_factory=list)
    reading: list[str] = field(default_factory=list)
    done: set[tuple[str, bool]] = field(default_factory=set)

    def result(self) -> PipSpec:
        _check_unique(self.requirements, self.wheels, self.origin)
        return PipSpec(tuple(self.requirements), tuple(self.constraints), _hash_pairs(self.hashes), self.index_url,
                       tuple(self.extra_index_urls), tuple(self.find_links), tuple(self.wheels), self._partial_hashes())

    def _partial_hashes(self) -> tuple[SpecWarning, ...]:
        """pip refuses a file where only some requirements carry --hash; we install the others unchecked, and say so."""
        missing = sorted({canonicalize_name(r.name) for r in self.requirements} - set(self.hashes))
        if not self.hashes or not missing:
            return ()
        return (SpecWarning(self.origin, f"only some requirements have --hash values; {', '.join(missing)} will install unchecked",
                            "add --hash= to every requirement (pip-compile --generate-hashes writes them all)"),)

    # --- files -------------------------------------------------------------------------------

    def read(self, path: Path, where: str, written: str, constraint: bool) -> None:
        text = _read_text(path, where, written)
        real = os.path.realpath(path)
        if real in self.reading:
            chain = " -> ".join(self._shown(p) for p in [*self.reading[self.reading.index(real):], real])
            raise _fail(where, f"include cycle: {chain}", "remove the -r/-c line that leads back to a file including it", written)
        if (real, constraint) in self.done:
            return
        self.done.add((real, constraint))
        self.reading.append(real)
        shown = self._shown(str(path))
        for number, line in _logical_lines(text):
            self.line(line, f"{self.origin} ({shown}:{number})", path.parent, constraint)
        self.reading.pop()

    def _shown(self, path: str) -> str:
        try:
            return os.path.relpath(os.path.realpath(path), os.path.realpath(self.root))
        except ValueError:  # another drive on Windows
            return str(path)

    # --- lines -------------------------------------------------------------------------------

    def line(self, text: str, where: str, here: Path, constraint: bool) -> None:
        """One logical line: a requirement followed by its --hash options, or options only."""
        requirement, options = _split_line(text)
        parsed = _options(options, where)
        if not requirement:
            for name, value, token in parsed:
                self.option(name, value, token, where, here, constraint)
            return
        for name, _, token in parsed:
            if name != "--hash":
                raise _fail(where, f"option {name} cannot follow a requirement on the same line", f"put {name} on a line of its own", token)
        hashes = [_hash(value, where) for _, value, _ in parsed]
        self.requirement(requirement, hashes, where, here, constraint)

    def option(self, name: str, value: str, token: str, where: str, here: Path, constraint: bool) -> None:
        if name in ("--requirement", "--constraint"):
            self.include(value, where, here, constraint or name == "--constraint")
        elif name == "--index-url":
            url = _index_url(value, where, name)
            if self.index_url and self.index_url.rstrip("/") != url.rstrip("/"):
                raise _fail(where, f"a second, different --index-url (the first is {self.index_url!r})",
                            "keep one --index-url; add the others with --extra-index-url", url)
            self.index_url = self.index_url or url
        elif name == "--extra-index-url":
            _append_new(self.extra_index_urls, _index_url(value, where, name))
        elif name == "--find-links":
            _append_new(self.find_links, _find_links(value, where, here))
        else:  # --hash
            raise _fail(where, "--hash must follow a requirement on the same line", "write name==version --hash=sha256:<hex> on one line", token)

    def include(self, written: str, where: str, here: Path, constraint: bool) -> None:
        if _SCHEME.match(written) and not _is_file_url(written):
            raise _fail(where, "remote requirement files are not supported", "download it next to the definition and include it by path", written)
        self.read(Path(_local_path(written, here, where)), where, written, constraint)

    # --- requirements ------------------------------------------------------------------------

    def requirement(self, text: str, hashes: list[str], where: str, here: Path, constraint: bool) -> None:
        """pip's order: a name (PEP 508) unless the text is a URL or a path (`./x.whl`, `wheels/x.whl`)."""
        try:
            parsed, error = Requirement(text), None
        except (InvalidRequirement, RecursionError) as err:
            parsed, error = None, err
        if parsed is not None and not parsed.name.lower().endswith((".whl", *ARCHIVES)):
            if parsed.url is None:
                return self.named(parsed, text, hashes, where, constraint)
            return self.located(parsed.url, bool(parsed.extras), parsed.marker is not None, parsed.name, text, hashes, where, here, constraint)
        location = _unnamed_location(text)
        if location is None and "${" in text:
            raise _fail(where, "environment variables are not expanded in requirement lines (only in index URLs): the definition must mean the same on every machine",
                        "write the version itself, e.g. torch==2.3.1", text)
        if location is None:
            raise _fail(where, f"invalid requirement: {error}", PEP508_FIX, text)
        self.located(*location, None, text, hashes, where, here, constraint)

    def named(self, requirement: Requirement, text: str, hashes: list[str], where: str, constraint: bool) -> None:
        if hashes:
            if not _pinned(requirement):
                raise _fail(where, f"--hash needs an exact version, and {requirement.name} is not pinned with ==",
                            f"pin it ({requirement.name}==<version>), as pip requires for hash checking", text)
            self.hashes.setdefault(canonicalize_name(requirement.name), set()).update(hashes)
        if constraint and requirement.extras:
            raise _fail(where, "a constraint cannot have extras", f"write the constraint without them ({requirement.name}...)", text)
        (self.constraints if constraint else self.requirements).append(requirement)

    def located(self, location: str, extras: bool, marker: bool, name: str | None, text: str, hashes: list[str],
                where: str, here: Path, constraint: bool) -> None:
        """A requirement given as a URL or a path: only a local wheel is accepted."""
        if _SCHEME.match(location) and not _is_file_url(location):
            raise _fail(where, "direct URL requirements are not supported", DIRECT_URL_FIX, text)
        if constraint:
            raise _fail(where, "a constraint cannot be a file or URL", "reference the .whl from a requirements file; constraints hold names and versions", text)
        path = _local_path(location, here, where)
        if not path.lower().endswith(".whl"):
            if path.lower().endswith(ARCHIVES) or os.path.isdir(path):
                raise _fail(where, "local source directories and sdists are not supported, only wheels", WHEEL_FIX, text)
            raise _fail(where, f"looks like a path, but {path} does not exist", f"{INCLUDE_FIX}, or {PEP508_FIX}", text)
        if extras or marker:
            raise _fail(where, "a local wheel cannot carry extras or an environment marker",
                        "reference the .whl alone; list an extra's packages as requirements of their own", text)
        wheel = _wheel(path, where, text)
        if name is not None and canonicalize_name(name) != wheel.name:
            raise _fail(where, f"the requirement names {name}, but the wheel file is {wheel.name}", "make the name before @ match the wheel", text)
        _verify(path, hashes, where, text)
        self.wheels.append(wheel)


# --- line syntax -----------------------------------------------------------------------------

def _inline_item(item: object, where: str) -> str:
    """A list item is one whole line: blank items and continuations point at a YAML mistake."""
    if not isinstance(item, str):
        raise _fail(where, "must be a string (a requirements-file line)", 'quote the value, e.g. "six==1.16.0"', item)
    if not item.strip():
        raise _fail(where, "is empty", "remove the item, or write a non-empty requirement such as six==1.16.0", item)
    if len(item.splitlines()) > 1:
        raise _fail(where, "holds several lines", "give one requirement-file line per list item", item)
    text = _COMMENT.sub("", item).strip()
    if text.endswith("\\"):
        raise _fail(where, "ends with a line continuation (\\), but list items are lines of their own", "write the whole line in one item", item)
    return text


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines without comments, backslash continuations joined, numbered by their first line."""
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        parts.append(line[:-1] if line.endswith("\\") else line)
        start = start or number
        if not line.endswith("\\"):
            if "".join(parts).strip():
                yield start, "".join(parts).strip()
            start, parts = 0, []
    if "".join(parts).strip():  # the file ended on a continuation
        yield start, "".join(parts).strip()


def _split_line(text: str) -> tuple[str, str]:
    match = _OPTION_START.search(text)
    if match is None:
        return text.strip(), ""
    return text[:match.start()].strip(), text[match.start():].strip()


def _options(text: str, where: str) -> list[tuple[str, str, str]]:
    """(long name, value, token as written) for each option; shlex-split, as pip does."""
    try:
        tokens = shlex.split(text)
    except ValueError as err:
        raise _fail(where, f"cannot split the options: {err}", "close the quote, or remove the stray backslash", text) from None
    found, tokens = [], iter(tokens)
    for token in tokens:
        if not token.startswith("-") or token == "-":
            raise _fail(where, f"unexpected {token!r} among the options", "write one requirement per line, before its --hash options", text)
        written, value = token.partition("=")[::2] if token.startswith("--") else (token[:2], token[2:])
        value = value if value or "=" in token else None
        if written in REJECTED:
            raise _fail(where, *REJECTED[written], token)
        if written not in OPTIONS:
            raise _fail(where, f"unknown option {written}", _unknown_option_fix(written), token)
        if value is None:
            value = next(tokens, None)
            if value is None:
                raise _fail(where, f"option {written} needs a value", f"write {written} <value>", token)
        found.append((OPTIONS[written], value, token))
    return found


def _unknown_option_fix(written: str) -> str:
    close = difflib.get_close_matches(written, [*OPTIONS, *REJECTED], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"remove it{hint}; requirement lines may use -r, -c, -i/--index-url, --extra-index-url, -f/--find-links and --hash"


def _unnamed_location(text: str) -> tuple[str, bool, bool] | None:
    """(location, has extras, has marker) for a URL or path line such as `./x.whl[extra]; marker`."""
    is_url = bool(_SCHEME.match(text)) or _is_file_url(text)
    location, semicolon, _ = text.partition("; " if is_url else ";")
    location = location.strip()
    extras = re.fullmatch(r"(.+?)\s*\[[^\]]*\]", location)
    if extras:
        location = extras.group(1)
    path_like = "/" in location or "\\" in location or location.startswith((".", "~")) or location.lower().endswith((".whl", *ARCHIVES))
    return (location, bool(extras), bool(semicolon)) if is_url or path_like else None


def _pinned(requirement: Requirement) -> bool:
    specifiers = list(requirement.specifier)
    return len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and not specifiers[0].version.endswith(".*")


def _hash(value: str, where: str) -> str:
    algorithm, _, digest = value.partition(":")
    if algorithm not in HASH_LENGTHS:
        raise _fail(where, "--hash must use sha256, sha384 or sha512", HASH_FIX, value)
    if not re.fullmatch(f"[0-9a-fA-F]{{{HASH_LENGTHS[algorithm]}}}", digest):
        raise _fail(where, f"--hash {algorithm} must be {HASH_LENGTHS[algorithm]} hexadecimal digits", HASH_FIX, value)
    return f"{algorithm}:{digest.lower()}"


# --- locations -------------------------------------------------------------------------------

def _is_file_url(text: str) -> bool:
    return text[:5].lower() == "file:"


def _local_path(location: str, here: Path, where: str) -> str:
    """An absolute path for a relative path, an absolute one, or a file: URL."""
    if _is_file_url(location):
        try:
            parts = urlsplit(location)
        except ValueError as err:
            raise _fail(where, f"invalid file: URL: {err}", "write file:///absolute/path, or a path relative to this file", location) from None
        if parts.netloc not in ("", "localhost"):
            raise _fail(where, "a file: URL cannot name another host", "write file:///absolute/path, or a path relative to this file", location)
        location = url2pathname(parts.path)
    return os.path.abspath(os.path.join(here, location))


def _read_text(path: Path, where: str, written: str) -> str:
    if not os.path.exists(path):
        raise _fail(where, f"requirements file {path} does not exist", INCLUDE_FIX, written)
    if not os.path.isfile(path):
        raise _fail(where, f"{path} is not a requirements file (not a regular file)", INCLUDE_FIX, written)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(where, f"requirements file {path} is not UTF-8 text", "save it as UTF-8", written) from None
    except (OSError, ValueError) as err:
        raise _fail(where, f"cannot read requirements file {path}: {getattr(err, 'strerror', None) or err}", INCLUDE_FIX, written) from None


def _index_url(url: str, where: str, option: str) -> str:
    """An http(s) index URL, with no secret written in it and no plain http off this machine."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise _fail(where, f"{option} must be an http:// or https:// URL", f"write {option} https://host/simple/", url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secret = password or user  # a lone user name is usually a token
    if at and secret and not _PLACEHOLDERS.fullmatch(secret):
        raise SpecError(where, f"{option} has credentials written in plain text", CREDENTIALS_FIX, _masked(url))
    if parts.scheme.lower() == "http" and not _loopback(host):
        raise _fail(where, f"{option} uses plain http, which pip ignores without --trusted-host and which nothing verifies",
                    "serve the index over https:// (for a private CA set SSL_CERT_FILE); plain http is accepted only for localhost", url)
    return url


def _find_links(value: str, where: str, here: Path) -> str:
    """URLs stay as written; a local folder becomes absolute (its wheels are hashed into the definition)."""
    if _SCHEME.match(value) and not _is_file_url(value):
        return _index_url(value, where, "--find-links")
    path = _local_path(value, here, where)
    if not os.path.isdir(path):
        raise _fail(where, f"--find-links folder {path} does not exist", "create the folder of wheels, or give the https:// URL of a links page", value)
    return path


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _wheel(path: str, where: str, text: str) -> PrivateWheel:
    if not os.path.isfile(path):
        raise _fail(where, f"wheel file {path} does not exist", INCLUDE_FIX, text)
    filename = os.path.basename(path)
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except ValueError as err:
        raise _fail(where, f"invalid wheel filename: {err}", "keep the name pip wheel gave it: name-version-python-abi-platform.whl", text) from None
    return PrivateWheel(name, str(version), filename, path, _file_digest(path, "sha256", where, text))


def _verify(path: str, hashes: list[str], where: str, text: str) -> None:
    """--hash on a local wheel: pip checks the file against it, so do we."""
    pairs = [value.partition(":")[::2] for value in hashes]
    if pairs and not any(_file_digest(path, algorithm, where, text) == digest for algorithm, digest in pairs):
        raise _fail(where, "the wheel file does not match its --hash", "update the --hash (pip hash <file>), or reference the file you reviewed", text)


def _file_digest(path: str, algorithm: str, where: str, text: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, algorithm).hexdigest()
    except (OSError, ValueError) as err:
        raise _fail(where, f"cannot read wheel file {path}: {getattr(err, 'strerror', None) or err}", INCLUDE_FIX, text) from None


# --- results ---------------------------------------------------------------------------------

def _identical_once(items: list, key) -> tuple:
    """The same requirement reached twice (one file included from both `pip:` and a conda file's
    `pip:` section) is one requirement; only different ones for one package are a conflict."""
    seen, kept = set(), []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return tuple(kept)


def _requirement_key(requirement: Requirement) -> tuple:
    return (canonicalize_name(requirement.name), tuple(sorted(canonicalize_name(e) for e in requirement.extras)),
            str(requirement.specifier), str(requirement.marker or ""))


def _check_unique(requirements: Sequence[Requirement], wheels: Sequence[PrivateWheel], origin: str) -> None:
    """Two unmarked entries for one package would let the resolver pick either; markers may split it."""
    seen: dict[str, str] = {}
    entries = [(r.name, str(r)) for r in requirements if r.marker is None] + [(w.name, w.filename) for w in wheels]
    for name, shown in entries:
        key = canonicalize_name(name)
        if key in seen:
            raise _fail(origin, f"{key} is listed twice ({seen[key]!r} and {shown!r})", "merge them into one requirement")
        seen[key] = shown


def _hash_pairs(hashes: dict[str, set[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(sorted(values))) for name, values in sorted(hashes.items()))


def _append_new(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _masked(text: str) -> str:
    """A URL's password (or lone token) replaced by ***, so no message ever shows it."""
    def hide(match: re.Match) -> str:
        user, colon, _ = match.group(1).partition(":")
        return f"://{user}:***@" if colon else "://***@"
    return _USERINFO.sub(hide, text)


def _fail(where: str, problem: str, fix: str, value: object = None) -> SpecError:
    return SpecError(where, _masked(problem), fix, _masked(value) if isinstance(value, str) else value)
