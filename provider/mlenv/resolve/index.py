"""Where packages come from: the index settings, read from the environment (pip's and uv's variables)
or given explicitly. They are machine settings like a mirror, so they stay out of the definition hash;
the lock hash records what was actually resolved."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit



@dataclass(frozen=True)
class IndexSettings:
    index_url: str | None = None  # None: the installer's default index (PyPI)
    extra_index_urls: tuple[str, ...] = field(default_factory=tuple)
    ca_file: str | None = None
    find_links: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_environment(cls, index_url: str | None = None) -> "IndexSettings":
        env = os.environ
        extras = env.get("MLENV_EXTRA_INDEX_URL") or env.get("PIP_EXTRA_INDEX_URL") or env.get("UV_EXTRA_INDEX_URL") or ""
        return cls(
            index_url=index_url or env.get("MLENV_INDEX_URL") or env.get("PIP_INDEX_URL") or env.get("UV_INDEX_URL") or None,
            extra_index_urls=tuple(u for u in extras.split() if u.startswith(("http://", "https://"))),
            ca_file=env.get("SSL_CERT_FILE") or env.get("PIP_CERT") or env.get("REQUESTS_CA_BUNDLE"),
        )

    def for_definition(self, pip) -> "IndexSettings":
        """The definition's own index options win over the machine's, as in pip (a requirements file's
        --index-url beats PIP_INDEX_URL). `${VAR}` placeholders expand here, at build time, so a
        token never enters the definition or its hash."""
        expand = os.path.expandvars
        if not (pip.index_url or pip.extra_index_urls or pip.find_links):
            return self
        index_url = self.with_credentials(expand(pip.index_url)) if pip.index_url else self.index_url
        extras = tuple(dict.fromkeys([*(self.with_credentials(expand(u)) for u in pip.extra_index_urls), *self.extra_index_urls]))
        return replace(self, index_url=index_url, extra_index_urls=extras, find_links=tuple(expand(f) for f in pip.find_links))

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()

    def with_credentials(self, url: str) -> str:
        """A file URL from the lock (uv drops credentials) with the user:password of the index
        on the same host put back, so private-index downloads authenticate."""
        parts = urlsplit(url)
        if parts.username:
            return url
        for index_url in filter(None, (self.index_url, *self.extra_index_urls)):
            index_parts = urlsplit(index_url)
            if index_parts.username and index_parts.hostname == parts.hostname and index_parts.port == parts.port:
                return parts._replace(netloc=f"{index_parts.netloc.rsplit('@', 1)[0]}@{parts.netloc}").geturl()
        return url

    def secrets(self) -> list[str]:
        """Passwords embedded in the index URLs, to be redacted from every message and log."""
        found = []
        for url in filter(None, (self.index_url, *self.extra_index_urls)):
            userinfo = urlsplit(url).password
            if userinfo:
                found.append(unquote(userinfo))
        return found


def available_versions(index: IndexSettings, package: str, python_version: str = "3.11") -> list[str]:
    """Versions of a package the index offers as wheels for the target, newest first ([] if unknown).
    Asks pip (`pip index versions`), which knows the default index and the wheel tags."""
    command = [sys.executable, "-m", "pip", "index", "versions", package, "--python-version", python_version,
               "--platform", "manylinux2014_x86_64", "--only-binary=:all:", "--disable-pip-version-check", "--no-input"]
    if index.index_url:
        command += ["--index-url", index.index_url]
    for extra in index.extra_index_urls:
        command += ["--extra-index-url", extra]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    env.pop("PIP_FIND_LINKS", None)
    if index.ca_file:
        env["PIP_CERT"] = index.ca_file
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.search(r"^Available versions: (.+)$", done.stdout, re.MULTILINE)
    return [v.strip() for v in found.group(1).split(",")] if found else []
