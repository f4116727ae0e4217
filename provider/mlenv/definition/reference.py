"""Image references: `host[:port]/path[:tag][@sha256:…]` for registries, `oci:PATH[:tag]` for layouts.

A name without a registry host means what Docker means by it: Docker Hub (`python:3.11` is
`docker.io/library/python:3.11`, `pytorch/pytorch` is `docker.io/pytorch/pytorch`). Only the parsed
reference is expanded; the definition keeps (and hashes) the image exactly as written.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mlenv.diagnostics.errors import SpecError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DOCKER_HUB = "docker.io"  # the name Docker gives Docker Hub in references
DOCKER_HUB_API = "registry-1.docker.io"  # the host its registry API answers on
_HUB_NAMES = (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API)
_REPO_PATH = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+|__)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference. For layouts `host` is None and `path` is the layout directory."""

    host: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_layout(self) -> bool:
        return self.host is None

    @property
    def repository(self) -> str:
        return f"oci:{self.path}" if self.is_layout else f"{self.host}/{self.path}"

    @property
    def reference(self) -> str:
        """What to ask the store for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str, field: str = "image", *, short_names: bool = True) -> ImageRef:
    """`short_names`: a name without a registry host is on Docker Hub, as in Docker (else an error)."""
    text = text.strip()
    if text.startswith("oci:"):
        return _parse_layout(text[4:], field, text)
    return _parse_remote(text, field, short_names)


def is_docker_hub(host: str | None) -> bool:
    return host in _HUB_NAMES


def api_host(host: str) -> str:
    """Where a registry's HTTP API answers: Docker Hub's is registry-1.docker.io, others their own."""
    return DOCKER_HUB_API if is_docker_hub(host) else host


def has_registry_host(text: str) -> bool:
    """Docker's rule: the first path component names a registry host if it has a dot or a port, or
    is localhost (`base/python:3.11` has none; Docker would send it to Docker Hub)."""
    if text.startswith("oci:"):
        return True
    host, sep, _ = text.partition("/")
    return bool(sep) and ("." in host or ":" in host or host == "localhost")


def is_loopback(host: str) -> bool:
    """This machine: `localhost` or a loopback address, with or without a port (`127.0.0.1:5000`,
    `[::1]:5000`, `::1`). The one rule for plain HTTP: registries (as Docker does), index URLs and
    direct references may use it only here, where nothing travels over a network."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_repository(text: str, field: str = "repository") -> ImageRef:
    """A repository to push to: no tag or digest allowed (the tag comes from the definition hash), and
    the registry host written out (a push never goes to Docker Hub by omission)."""
    ref = parse_reference(text, field, short_names=False)
    if ref.tag or ref.digest:
        raise SpecError(field, "a repository takes no tag or digest (the tag is derived from the definition hash)", f"use {ref.repository}", text)
    return ref


def _parse_layout(rest: str, field: str, text: str) -> ImageRef:
    """`oci:PATH`, `oci:PATH:TAG` (as skopeo and podman write a layout image: TAG is its index.json
    `org.opencontainers.image.ref.name`), `oci:PATH@sha256:…` (what mlenv's `image_ref` names)."""
    rest, digest = _layout_digest(rest, field, text)
    path, tag = rest, None
    head, sep, tail = rest.rpartition(":")
    if sep and head and "/" not in tail:
        path, tag = head, tail
    if not path:
        raise SpecError(field, "an OCI layout reference needs a directory", "write oci:PATH, oci:PATH:TAG or oci:PATH@sha256:DIGEST", text)
    return ImageRef(None, path, tag, digest)


def _layout_digest(rest: str, field: str, text: str) -> tuple[str, str | None]:
    head, sep, tail = rest.rpartition("@")
    if not sep or not tail.startswith("sha256:"):
        return rest, None
    if not _DIGEST.match(tail):
        raise SpecError(field, "the digest must be sha256: followed by 64 lowercase hex digits", "copy the digest exactly", text)
    return head, tail


def _parse_remote(text: str, field: str, short_names: bool) -> ImageRef:
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise SpecError(field, "the digest must be sha256: followed by 64 lowercase hex digits", "copy the digest exactly", text)
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise SpecError(field, "invalid tag", "tags use letters, digits, _ . - (at most 128)", text)
    if has_registry_host(name):
        host, _, path = name.partition("/")
    elif short_names:
        host, path = DOCKER_HUB, name
    else:
        raise SpecError(field, "the reference must start with a registry host", "write host[:port]/repository, e.g. 127.0.0.1:5000/envs/train (docker.io/NAME/REPO for Docker Hub)", text)
    if is_docker_hub(host) and "/" not in path:
        path = f"library/{path}"  # Docker Hub's official images
    if not _REPO_PATH.match(path):
        raise SpecError(field, "invalid repository path", "use lowercase letters, digits and . _ - / separators", text)
    return ImageRef(host, path, tag, digest or None)
