"""Where requirement lines point: local paths and file: URLs, index and --find-links URLs. Each is
checked as written (no secret in it, no plain http off this machine) and made absolute where it is
a local path, so the definition means the same from any working directory."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from mlenv.definition.local_files import LinksFolder, confined_links_folder
from mlenv.definition.reference import is_loopback
from mlenv.diagnostics.errors import SpecError
from mlenv.definition.requirement_syntax import CREDENTIALS_FIX, PLACEHOLDERS, SCHEME, fail, is_file_url
from mlenv.diagnostics.redact import masked


def local_path(location: str, here: Path, where: str) -> str:
    """An absolute path for a relative path, an absolute one, or a file: URL."""
    if is_file_url(location):
        try:
            parts = urlsplit(location)
        except ValueError as err:
            raise fail(where, f"invalid file: URL: {err}", "write file:///absolute/path, or a path relative to this file", location) from None
        if parts.netloc not in ("", "localhost"):
            raise fail(where, "a file: URL cannot name another host", "write file:///absolute/path, or a path relative to this file", location)
        from urllib.request import url2pathname  # 25 ms of imports: only for a file: URL

        location = url2pathname(parts.path)
    return os.path.abspath(os.path.join(here, location))


def index_url(url: str, where: str, option: str) -> str:
    """An http(s) index URL, with no secret written in it and no plain http off this machine."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise fail(where, f"{option} must be an http:// or https:// URL", f"write {option} https://host/simple/", url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secret = password or user  # a lone user name is usually a token
    if at and secret and not PLACEHOLDERS.fullmatch(secret):
        raise SpecError(where, f"{option} has credentials written in plain text", CREDENTIALS_FIX, masked(url))
    if parts.scheme.lower() == "http" and not is_loopback(host):
        raise fail(where, f"{option} uses plain http, which pip ignores without --trusted-host and which nothing verifies",
                   "serve the index over https:// (for a private CA set SSL_CERT_FILE); plain http is accepted only for localhost", url)
    return url


def find_links(value: str, where: str, here: Path) -> str:
    """URLs stay as written; a local folder becomes absolute (its wheels are hashed into the definition)."""
    if SCHEME.match(value) and not is_file_url(value):
        return index_url(value, where, "--find-links")
    path = local_path(value, here, where)
    if not os.path.isdir(path):
        raise fail(where, f"--find-links folder {path} does not exist", "create the folder of wheels, or give the https:// URL of a links page", value)
    return path


def links_folder(path: str, where: str, written: str) -> LinksFolder:
    try:
        return confined_links_folder(path, where, written)
    except OSError as err:
        raise fail(where, f"cannot read the --find-links folder {path}: {err.strerror or err}",
                   "make the folder and its wheels readable, or give the https:// URL of a links page", written) from None
