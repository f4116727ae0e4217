"""Direct references (`name @ https://…/name-1.0.whl`, `name @ https://…/name-1.0.tar.gz`,
`name @ git+https://host/repo@rev`), checked as pip reads them, without touching the network.

The URL is part of the requirement, so it enters the definition hash as written; the lock then
records what it resolved to (the archive's sha256, the git commit). A requirement reached this way
must have a name: written before `@`, or readable from a wheel or sdist file name, or pip's legacy
`#egg=name` fragment; pip would otherwise build the package just to learn it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename

from mlenv.diagnostics.errors import SpecError, SpecWarning
from mlenv.definition.reference import is_loopback
from mlenv.definition.requirement_syntax import ARCHIVES, CREDENTIALS_FIX, PLACEHOLDERS, fail
from mlenv.diagnostics.redact import masked

SCHEMES = ("https", "http", "git+https", "git+http", "git+ssh", "git+file")
COMMIT = re.compile(r"[0-9a-f]{40}")
NAME_FIX = "name the package: write NAME @ URL (PEP 508), e.g. tool @ git+https://host/org/tool@v1.0"
KIND_FIX = "point at a wheel (.whl), an sdist archive (.tar.gz, .zip) or a git repository (git+https://host/repo@rev)"


def direct_requirement(url: str, name: str | None, extras: tuple[str, ...], marker: object, *, where: str, text: str) -> Requirement:
    """The requirement for a URL line, with the extras and environment marker written on it."""
    parts = _parts(url, where, text)
    vcs = parts.scheme.startswith("git+")
    path = unquote(parts.path)
    if not vcs and not path.lower().endswith((".whl", *ARCHIVES)):
        raise fail(where, "a direct URL must name a wheel, an sdist archive or a git repository", KIND_FIX, text)
    file_name = _name_in_file(path.rsplit("/", 1)[-1], where, text) if not vcs else None
    egg = re.search(r"(?:^|&)egg=([A-Za-z0-9._-]+)", parts.fragment)
    name = name or file_name or (egg.group(1) if egg else None)
    if not name:
        raise fail(where, "a git requirement without a package name", NAME_FIX, text)
    if file_name and canonicalize_name(file_name) != canonicalize_name(name):
        raise fail(where, f"the requirement names {name}, but the file is a {file_name} package", "make the name before @ match the file", text)
    shown_extras = f"[{','.join(sorted(extras))}]" if extras else ""
    shown_marker = f" ; {marker}" if marker else ""
    try:
        return Requirement(f"{name}{shown_extras} @ {_without_egg(url)}{shown_marker}")
    except InvalidRequirement as err:
        raise fail(where, f"invalid requirement: {err}", NAME_FIX, text) from None


def is_vcs(requirement: Requirement) -> bool:
    return bool(requirement.url and requirement.url.lower().startswith("git+"))


def mutable_ref_warning(requirement: Requirement, where: str) -> SpecWarning | None:
    """A git branch or tag can move under the same definition (the lock records the commit it found)."""
    if not is_vcs(requirement):
        return None
    parts = urlsplit(requirement.url)
    repository, at, ref = parts.path.rpartition("@") if "@" in parts.path else (parts.path, "", "")
    if COMMIT.fullmatch(ref):
        return None
    shown = f"'{ref}'" if ref else "the default branch"
    pinned = parts._replace(path=repository, fragment="").geturl()
    return SpecWarning(where, f"{requirement.name} follows {shown} of its git repository, which can move: each new lock takes the commit it finds then",
                       f"pin the commit: {requirement.name} @ {masked(pinned)}@<40-hex commit>")


def _parts(url: str, where: str, text: str):
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as err:
        raise fail(where, f"invalid URL: {err}", KIND_FIX, text) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        supported = "git" if scheme.split("+")[0] in ("hg", "svn", "bzr") else scheme
        raise fail(where, f"{supported} URLs are not supported in requirements", "use https:// (a wheel or sdist archive) or git+https://", text)
    if not host and scheme != "git+file":
        raise fail(where, "the URL has no host", KIND_FIX, text)
    user, colon, password = parts.netloc.rpartition("@")[0].partition(":")
    secret = password or (user if scheme != "git+ssh" else "")  # ssh's user (git@) is no secret
    if secret and not PLACEHOLDERS.fullmatch(secret):
        raise SpecError(where, "the URL has credentials written in plain text", CREDENTIALS_FIX, masked(text))
    if secret:
        raise fail(where, "placeholders are expanded only in index URLs, not in direct references",
                   "serve the package from an index (its credentials from PIP_INDEX_URL), or let git find them (a credential helper, ~/.netrc)", text)
    if scheme in ("http", "git+http") and not is_loopback(host):
        raise fail(where, "plain http is accepted only for localhost: nothing verifies what it serves", "use https://", text)
    return parts


def _name_in_file(filename: str, where: str, text: str) -> str | None:
    try:
        if filename.lower().endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except InvalidWheelFilename as err:
        raise fail(where, f"invalid wheel filename: {err}", "keep the name pip wheel gave it: name-version-python-abi-platform.whl", text) from None
    except InvalidSdistFilename:
        return None  # an archive named otherwise (a GitHub tarball, main.zip): the name must be written


def _without_egg(url: str) -> str:
    """pip's `#egg=name` is only a name hint: the requirement carries the name itself."""
    base, hash_, fragment = url.partition("#")
    kept = "&".join(p for p in fragment.split("&") if p and not p.startswith("egg="))
    return f"{base}#{kept}" if kept else base
