"""The files an index offers for one project (the simple API, PEP 503 HTML or PEP 691 JSON), so a
failed or suspicious resolution can be explained from what is really there: which Pythons a
version's wheels cover, whether it has an sdist, which version pip would pick.

uv does the resolving; this only reads listings, and a listing that cannot be read is simply empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import Version

from mlenv.resolve.index import IndexSettings

PYPI = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None

    @cached_property
    def _parsed(self) -> tuple[Version, frozenset[Tag] | None]:
        if self.filename.endswith(".whl"):
            _, version, _, tags = parse_wheel_filename(self.filename)
            return version, tags
        return parse_sdist_filename(self.filename)[1], None

    @property
    def version(self) -> Version:
        return self._parsed[0]

    @property
    def tags(self) -> frozenset[Tag] | None:
        """The wheel's tags; None for an sdist."""
        return self._parsed[1]

    @property
    def is_sdist(self) -> bool:
        return self.tags is None

    def allows_python(self, version: str) -> bool:
        try:
            return not self.requires_python or SpecifierSet(self.requires_python).contains(version, prereleases=True)
        except InvalidSpecifier:
            return True  # pip ignores a Requires-Python it cannot read


def project_files(index: IndexSettings, name: str) -> list[IndexFile]:
    """Every wheel and sdist of `name` on the index, its extra indexes and local --find-links folders."""
    found: list[IndexFile] = []
    with httpx.Client(verify=index.ssl_context(), timeout=httpx.Timeout(30, connect=10), follow_redirects=True) as client:
        for base in (index.index_url or PYPI, *index.extra_index_urls):
            found += _listing(client, base.rstrip("/") + f"/{canonicalize_name(name)}/")
    for folder in index.find_links:
        if os.path.isdir(folder):
            found += [IndexFile(f, Path(folder, f).as_uri(), None) for f in sorted(os.listdir(folder))]
    return [f for f in found if _parses(f) and canonicalize_name(_project(f.filename)) == canonicalize_name(name)]


def files_of(files: list[IndexFile], version: Version) -> list[IndexFile]:
    return [f for f in files if f.version == version]


def _listing(client: httpx.Client, page: str) -> list[IndexFile]:
    try:
        response = client.get(page, headers={"Accept": ACCEPT})
    except httpx.HTTPError:
        return []
    if response.status_code != 200:
        return []
    if "json" in response.headers.get("content-type", ""):
        return [IndexFile(f["filename"], urljoin(page, f["url"]), f.get("hashes", {}).get("sha256"), f.get("requires-python"))
                for f in response.json().get("files", []) if not f.get("yanked")]
    links = _Links()
    links.feed(response.text)
    return [IndexFile(urlsplit(href).path.rsplit("/", 1)[-1], urljoin(page, href.split("#")[0]),
                      _fragment_sha256(href), requires) for href, requires in links.found]


def _fragment_sha256(href: str) -> str | None:
    fragment = href.partition("#")[2]
    return fragment.partition("=")[2] if fragment.startswith("sha256=") else None


def _parses(file: IndexFile) -> bool:
    try:
        file.version
        return True
    except (InvalidWheelFilename, InvalidSdistFilename):
        return False


def _project(filename: str) -> str:
    return str(parse_wheel_filename(filename)[0] if filename.endswith(".whl") else parse_sdist_filename(filename)[0])


class _Links(HTMLParser):
    """The anchors of a PEP 503 page: (href, data-requires-python), yanked files left out."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and values.get("href") and "data-yanked" not in values:
            self.found.append((values["href"], values.get("data-requires-python")))
