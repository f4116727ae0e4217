"""pip requirements - requirements files and inline lists of requirement-file lines - as one `PipSpec`.

Users write `pip: [...]` in YAML, `pip: requirements.txt`, or a conda file's `pip:` subsection; all
three are requirement-file lines. We accept the part of pip's format that builds the same image on
every machine: PEP 508 requirements (parsed by `packaging`, never by hand), -r/-c includes, index
options, `--hash=` pins, private wheels by path, whose content enters the definition hash, and
direct references to a wheel, an sdist archive or a git repository (direct_reference.py), locked at
build time by sha256 or commit. Editable installs, local source trees, and whatever would weaken TLS
are a `SpecError` naming the line, the value and the fix. Secrets in URLs are never echoed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from mlenv.definition import confine, requirement_locations as locations
from mlenv.definition.direct_reference import direct_requirement, is_vcs, mutable_ref_warning
from mlenv.definition.local_files import LinksFolder
from mlenv.digests import file_digests
from mlenv.diagnostics.errors import SpecWarning
from mlenv.definition.requirement_syntax import (
    ARCHIVES, INCLUDE_FIX, PEP508_FIX, SCHEME, WHEEL_FIX,
    fail, inline_item, is_file_url, logical_lines, parse_hash, parse_options, pinned, split_line, unnamed_location,
)


MAX_INCLUDE_DEPTH = 50


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
    links_folders: tuple[LinksFolder, ...] = ()  # the local find_links, as read (their digests are hashed)

    @property
    def installs_anything(self) -> bool:
        """Requirements or private wheels to install (constraints and index options alone install nothing)."""
        return bool(self.requirements or self.wheels)


def parse_lines(lines: Sequence[object], base_dir: Path, origin: str = "pip") -> PipSpec:
    """An inline list of requirement-file lines (`pip: [...]`, a conda file's `pip:` subsection);
    paths in it are relative to `base_dir`, the definition's folder."""
    if isinstance(lines, (str, bytes)) or not isinstance(lines, Sequence):
        raise fail(origin, "must be a list of requirement lines", "write pip: [numpy==1.26.4, requests] or pip: requirements.txt", lines)
    parser = _Parser(origin, Path(os.path.abspath(base_dir)))
    for index, item in enumerate(lines):
        where = f"{origin}[{index}]"
        parser.line(inline_item(item, where), where, parser.root, constraint=False)
    return parser.result()


def parse_file(path: Path | str, origin: str = "pip") -> PipSpec:
    """A requirements file, with its -r/-c includes; paths in it are relative to its own folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise fail(origin, "must be the path of a requirements file", "write pip: requirements.txt", path)
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
        raise fail(origin, f"two different index URLs ({first!r} and {second!r})", "keep one --index-url; add the others with --extra-index-url")
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
        links_folders=_identical_once([f for spec in specs for f in spec.links_folders], lambda f: f.path),
    )


@dataclass
class _Parser:
    """Collects one parse: the files being read (for cycles), those already read (an include reached
    twice, as in base.txt from both dev.txt and test.txt, is read once), and what the lines add;
    local --find-links folders are read (listed and hashed) once, here."""

    origin: str
    root: Path  # where shown file names are relative to
    requirements: list[Requirement] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)
    hashes: dict[str, set[str]] = field(default_factory=dict)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    wheels: list[PrivateWheel] = field(default_factory=list)
    links_folders: dict[str, LinksFolder] = field(default_factory=dict)
    notes: list[SpecWarning] = field(default_factory=list)
    reading: list[str] = field(default_factory=list)
    done: set[tuple[str, bool]] = field(default_factory=set)

    def result(self) -> PipSpec:
        requirements = _identical_once(self.requirements, _requirement_key)  # a line written twice is one requirement
        _check_unique(requirements, self.wheels, self.origin)
        return PipSpec(requirements, tuple(self.constraints), _hash_pairs(self.hashes), self.index_url,
                       tuple(self.extra_index_urls), tuple(self.find_links), tuple(self.wheels), self._partial_hashes() + tuple(self.notes),
                       tuple(self.links_folders.values()))

    def _partial_hashes(self) -> tuple[SpecWarning, ...]:
        """pip refuses a file where only some requirements carry --hash; we install the others unchecked, and say so."""
        missing = sorted({canonicalize_name(r.name) for r in self.requirements} - set(self.hashes))
        if not self.hashes or not missing:
            return ()
        return (SpecWarning(self.origin, f"only some requirements have --hash values; {', '.join(missing)} will install unchecked",
                            "add --hash= to every requirement (pip-compile --generate-hashes writes them all)"),)

    # --- files -------------------------------------------------------------------------------

    def read(self, path: Path, where: str, written: str, constraint: bool) -> None:
        if "\x00" in str(path):
            raise fail(where, "is not a usable file path (it holds a NUL character)", "name an existing requirements file", written)
        real = os.path.realpath(path)
        if real in self.reading:
            chain = " -> ".join(self._shown(p) for p in [*self.reading[self.reading.index(real):], real])
            raise fail(where, f"include cycle: {chain}", "remove the -r/-c line that leads back to a file including it", written)
        if (real, constraint) in self.done:
            return
        if len(self.reading) >= MAX_INCLUDE_DEPTH:
            raise fail(where, f"-r/-c includes nest deeper than {MAX_INCLUDE_DEPTH} files", "include the files from one top-level requirements file", written)
        text = _read_text(path, where, written)
        self.done.add((real, constraint))
        self.reading.append(real)
        shown = self._shown(str(path))
        for number, line in logical_lines(text):
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
        requirement, options = split_line(text)
        parsed = parse_options(options, where)
        if not requirement:
            for name, value, token in parsed:
                self.option(name, value, token, where, here=here, constraint=constraint)
            return
        for name, _, token in parsed:
            if name != "--hash":
                raise fail(where, f"option {name} cannot follow a requirement on the same line", f"put {name} on a line of its own", token)
        hashes = [parse_hash(value, where) for _, value, _ in parsed]
        self.requirement(requirement, hashes, where, here, constraint)

    def option(self, name: str, value: str, token: str, where: str, *, here: Path, constraint: bool) -> None:
        if name in ("--requirement", "--constraint"):
            self.include(value, where, here, constraint or name == "--constraint")
        elif name == "--index-url":
            url = locations.index_url(value, where, name)
            if self.index_url and self.index_url.rstrip("/") != url.rstrip("/"):
                raise fail(where, f"a second, different --index-url (the first is {self.index_url!r})",
                           "keep one --index-url; add the others with --extra-index-url", url)
            self.index_url = self.index_url or url
        elif name == "--extra-index-url":
            _append_new(self.extra_index_urls, locations.index_url(value, where, name))
        elif name == "--find-links":
            location = locations.find_links(value, where, here)
            _append_new(self.find_links, location)
            if os.path.isabs(location) and location not in self.links_folders:  # a local folder, not a URL
                self.links_folders[location] = locations.links_folder(location, where, value)
        else:  # --hash
            raise fail(where, "--hash must follow a requirement on the same line", "write name==version --hash=sha256:<hex> on one line", token)

    def include(self, written: str, where: str, here: Path, constraint: bool) -> None:
        if SCHEME.match(written) and not is_file_url(written):
            raise fail(where, "remote requirement files are not supported", "download it next to the definition and include it by path", written)
        self.read(Path(locations.local_path(written, here, where)), where, written, constraint)

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
            if _remote(parsed.url):
                return self.direct(direct_requirement(parsed.url, parsed.name, tuple(parsed.extras), parsed.marker, where=where, text=text), text, hashes, where, constraint)
            return self.located(parsed.url, bool(parsed.extras), parsed.marker is not None, parsed.name, text=text, hashes=hashes, where=where, here=here, constraint=constraint)
        location = unnamed_location(text)
        if location is None and "{{" in text:
            raise fail(where, "an Azure ML asset template ({{latest-pypi-version}}) is filled in only when the whole asset folder is read",
                       "pass the asset folder (the one holding spec.yaml and context/), or write the version itself, e.g. name==1.2.3", text)
        if location is None and "${" in text:
            raise fail(where, "environment variables are not expanded in requirement lines (only in index URLs): the definition must mean the same on every machine",
                       "write the version itself, e.g. torch==2.3.1", text)
        if location is None:
            raise fail(where, f"invalid requirement: {error}", PEP508_FIX, text)
        if _remote(location[0]):
            if location[1]:
                raise fail(where, "extras need the package's name", "write NAME[extra] @ URL", text)
            marker = text.partition("; ")[2].strip() or None
            return self.direct(direct_requirement(location[0], None, (), marker, where=where, text=text), text, hashes, where, constraint)
        self.located(*location, None, text=text, hashes=hashes, where=where, here=here, constraint=constraint)

    def named(self, requirement: Requirement, text: str, hashes: list[str], where: str, constraint: bool) -> None:
        if hashes:
            if not pinned(requirement):
                raise fail(where, f"--hash needs an exact version, and {requirement.name} is not pinned with ==",
                           f"pin it ({requirement.name}==<version>), as pip requires for hash checking", text)
            self.hashes.setdefault(canonicalize_name(requirement.name), set()).update(hashes)
        if constraint and requirement.extras:
            raise fail(where, "a constraint cannot have extras", f"write the constraint without them ({requirement.name}...)", text)
        (self.constraints if constraint else self.requirements).append(requirement)

    def direct(self, requirement: Requirement, text: str, hashes: list[str], where: str, constraint: bool) -> None:
        """A wheel, sdist or git URL: resolved and locked (archive sha256, git commit) at build time."""
        if constraint:
            raise fail(where, "a constraint cannot be a file or URL", "put the URL in a requirements file; constraints hold names and versions", text)
        if hashes and is_vcs(requirement):
            raise fail(where, "--hash cannot check a git checkout (pip refuses it too)", "remove the --hash and pin the commit (@<40-hex commit>)", text)
        if hashes:
            self.hashes.setdefault(canonicalize_name(requirement.name), set()).update(hashes)
        self.notes += filter(None, [mutable_ref_warning(requirement, where)])
        self.requirements.append(requirement)

    def located(self, location: str, extras: bool, marker: bool, name: str | None, *, text: str, hashes: list[str],
                where: str, here: Path, constraint: bool) -> None:
        """A requirement given as a local path or file: URL: only a wheel is accepted."""
        if constraint:
            raise fail(where, "a constraint cannot be a file or URL", "reference the .whl from a requirements file; constraints hold names and versions", text)
        path = locations.local_path(location, here, where)
        if not path.lower().endswith(".whl"):
            if path.lower().endswith(ARCHIVES) or os.path.isdir(path):
                raise fail(where, "local source directories and sdists are not supported, only wheels", WHEEL_FIX, text)
            raise fail(where, f"looks like a path, but {path} does not exist", f"{INCLUDE_FIX}, or {PEP508_FIX}", text)
        if extras or marker:
            raise fail(where, "a local wheel cannot carry extras or an environment marker",
                       "reference the .whl alone; list an extra's packages as requirements of their own", text)
        wheel, digests = _wheel(path, hashes, where, text)
        if name is not None and canonicalize_name(name) != wheel.name:
            raise fail(where, f"the requirement names {name}, but the wheel file is {wheel.name}", "make the name before @ match the wheel", text)
        _verify(digests, hashes, where, text)
        self.wheels.append(wheel)


# --- files ---------------------------------------------------------------------------------

def _read_text(path: Path, where: str, written: str) -> str:
    if not os.path.exists(path):
        raise fail(where, f"requirements file {path} does not exist", INCLUDE_FIX, written)
    if not os.path.isfile(path):
        raise fail(where, f"{path} is not a requirements file (not a regular file)", INCLUDE_FIX, written)
    try:
        return confine.read_text(path, where, written)
    except UnicodeDecodeError:
        raise fail(where, f"requirements file {path} is not UTF-8 text", "save it as UTF-8", written) from None
    except (OSError, ValueError) as err:
        raise fail(where, f"cannot read requirements file {path}: {getattr(err, 'strerror', None) or err}", INCLUDE_FIX, written) from None


def _wheel(path: str, hashes: list[str], where: str, text: str) -> tuple[PrivateWheel, dict[str, str]]:
    """The wheel, and its digests for sha256 and each --hash algorithm, from one read of the file."""
    if not os.path.isfile(path):
        raise fail(where, f"wheel file {path} does not exist", INCLUDE_FIX, text)
    confine.check(path, where, text)
    filename = os.path.basename(path)
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except ValueError as err:
        raise fail(where, f"invalid wheel filename: {err}", "keep the name pip wheel gave it: name-version-python-abi-platform.whl", text) from None
    try:
        digests = file_digests(path, dict.fromkeys(["sha256", *(value.partition(":")[0] for value in hashes)]))
    except (OSError, ValueError) as err:
        raise fail(where, f"cannot read wheel file {path}: {getattr(err, 'strerror', None) or err}", INCLUDE_FIX, text) from None
    return PrivateWheel(name, str(version), filename, path, digests["sha256"]), digests


def _verify(digests: dict[str, str], hashes: list[str], where: str, text: str) -> None:
    """--hash on a local wheel: pip checks the file against it, so do we."""
    pairs = [value.partition(":")[::2] for value in hashes]
    if pairs and not any(digests[algorithm] == digest for algorithm, digest in pairs):
        raise fail(where, "the wheel file does not match its --hash", "update the --hash (pip hash <file>), or reference the file you reviewed", text)


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
            str(requirement.specifier), requirement.url or "", str(requirement.marker or ""))


def _remote(location: str) -> bool:
    return bool(SCHEME.match(location)) and not is_file_url(location)


def _check_unique(requirements: Sequence[Requirement], wheels: Sequence[PrivateWheel], origin: str) -> None:
    """Two unmarked entries for one package would let the resolver pick either; markers may split it."""
    seen: dict[str, str] = {}
    entries = [(r.name, str(r)) for r in requirements if r.marker is None] + [(w.name, w.filename) for w in wheels]
    for name, shown in entries:
        key = canonicalize_name(name)
        if key in seen:
            raise fail(origin, f"{key} is listed twice ({seen[key]!r} and {shown!r})", "merge them into one requirement")
        seen[key] = shown


def _hash_pairs(hashes: dict[str, set[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(sorted(values))) for name, values in sorted(hashes.items()))


def _append_new(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


