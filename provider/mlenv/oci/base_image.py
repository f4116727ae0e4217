"""Read the base image: manifest, config, layers, and the facts the lock needs (Python version,
interpreter path, glibc version), detected from the image itself and cached per base digest."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from mlenv.cache import cache_root, verified_file, warn, write_atomically
from mlenv.digests import digest_of
from mlenv.diagnostics.errors import BuildError
from mlenv.oci.mediatypes import INDEX_TYPES
from mlenv.oci.tar_streams import READ_ERRORS, open_tar
from mlenv.definition.model import TARGET_PLATFORM
from mlenv.definition.reference import ImageRef
from mlenv.definition.rules import BASE_LOGIN_FIX
from mlenv.resolve.target import PythonFacts

_PYTHON = re.compile(r"^(usr/local/bin|usr/bin)/python3\.(\d+)$")
_LIBC6 = re.compile(r"^Package: libc6\n(?:[^\n]+\n)*?Version: (\d+\.\d+)", re.MULTILINE)
DEFAULT_GLIBC = "2.28"


@dataclass(frozen=True)
class BaseImage:
    ref: ImageRef
    digest: str
    config: dict
    layers: tuple[dict, ...]


def resolve_base(ref: ImageRef, store) -> BaseImage:
    """Fetch the base manifest (choosing linux/amd64 from an index) and its config, which must say
    linux/amd64 too."""
    try:
        return _resolve_base(ref, store)
    except BuildError as error:
        if error.rule != "registry.unauthorized":
            raise
        raise BuildError("image", f"pulling the base image {ref} was refused (HTTP 401/403)",
                         BASE_LOGIN_FIX.replace("HOST", ref.host),
                         rule="image.unauthorized-pull") from None


def _resolve_base(ref: ImageRef, store) -> BaseImage:
    found = store.get_manifest(ref.reference)
    if found is None:
        raise BuildError("image", f"base image {ref} not found", "push the base image first, or fix its name and tag", rule="image.not-found")
    data, media_type = found
    manifest = json.loads(data)
    if media_type in INDEX_TYPES or "manifests" in manifest:
        digest = _pick_platform(manifest, ref)
        data, media_type = store.get_manifest(digest)
        manifest = json.loads(data)
    digest = digest_of(data)
    config = json.loads(store.get_blob(manifest["config"]["digest"]))
    check_platform(ref, config)
    return BaseImage(ref, digest, config, tuple(manifest["layers"]))


def _pick_platform(index: dict, ref: ImageRef) -> str:
    for entry in index.get("manifests", []):
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry["digest"]
    raise BuildError("image", f"base image {ref} has no linux/amd64 variant", "use a base image built for linux/amd64", rule="image.wrong-architecture")


def check_platform(ref: ImageRef, config: dict) -> None:
    """The base config's own os and architecture (all a single-platform image says of its platform)
    must be linux/amd64: the platform of every definition, in its hash. Wheels for x86_64 and conda's
    linux-64 packages do not run on another, and even a user-managed base, where nothing is installed,
    would be published under a definition that says linux/amd64. The variant is not compared: amd64
    variants (v2, v3) name CPU levels, and x86_64 wheels run on all of them. A config without os or
    architecture is taken as linux/amd64, as `build_config` fills it in."""
    os_name, architecture = str(config.get("os") or "linux"), str(config.get("architecture") or "amd64")
    if os_name.lower() == "linux" and architecture.lower() in ("amd64", "x86_64"):
        return
    platform = "/".join([os_name, architecture, *([str(config["variant"])] if config.get("variant") else [])])
    raise BuildError("image", f"base image {ref} is built for {platform}, not {TARGET_PLATFORM} (its config says os {os_name}, architecture {architecture})",
                     f"use a base image built for {TARGET_PLATFORM}, or pin the digest of a multi-platform index that holds a "
                     f"{TARGET_PLATFORM} image ({ref.repository}@sha256:...)", rule="image.wrong-architecture")


def python_facts(base: BaseImage, store) -> PythonFacts:
    """Detect Python from the image config (official python images) or by scanning its layers;
    cached per base digest, checked when read, and detected again (with a warning) when damaged."""
    cached = cache_root() / "base" / f"{base.digest.split(':')[1]}.json"
    facts = _cached_facts(cached)
    if facts:
        return facts
    facts = _facts_from_layers(base, store)
    write_atomically(cached, json.dumps(facts.__dict__).encode())
    return facts


def base_glibc(base: BaseImage, store) -> str:
    """The base image's glibc version (from dpkg's status), for images that need not hold a Python:
    a conda environment brings its own interpreter. Cached like the facts, and checked the same way."""
    cached = cache_root() / "base" / f"{base.digest.split(':')[1]}.glibc"
    try:
        known = cached.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        known = None
    except (OSError, UnicodeDecodeError):
        known = ""
    if known and re.fullmatch(r"\d+\.\d+", known):
        return known
    if known is not None:
        warn(f"the cached base-image glibc version {cached} is damaged: detecting it from the image again")
    _, dpkg_status = _scan_layers(base, store)
    glibc = _LIBC6.search(dpkg_status)
    write_atomically(cached, (glibc.group(1) if glibc else DEFAULT_GLIBC).encode())
    return glibc.group(1) if glibc else DEFAULT_GLIBC


def _cached_facts(path: Path) -> PythonFacts | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and set(data) == {"version", "interpreter", "glibc"} and _facts_ok(data):
        return PythonFacts(**data)
    warn(f"the cached base-image facts {path} are damaged: detecting them from the image again")
    return None


def _facts_ok(data: dict) -> bool:
    return (all(isinstance(value, str) for value in data.values()) and re.fullmatch(r"3\.\d+", data["version"]) is not None
            and data["interpreter"].startswith("/") and re.fullmatch(r"\d+\.\d+", data["glibc"]) is not None)


def _facts_from_layers(base: BaseImage, store) -> PythonFacts:
    pythons, dpkg_status = _scan_layers(base, store)
    if not pythons:
        raise BuildError(
            "image",
            f"base image {base.ref} has no Python 3 interpreter (looked for /usr/bin/python3.N and /usr/local/bin/python3.N)",
            "choose a base image with Python 3 installed (e.g. Debian with python3 and python3-venv), or let conda bring one (python=3.X in a conda file)",
            rule="image.no-python",
        )
    path, minor = max(pythons.items(), key=lambda item: (int(item[1]), item[0].startswith("usr/local")))
    glibc = _LIBC6.search(dpkg_status)
    return PythonFacts(f"3.{minor}", "/" + path, glibc.group(1) if glibc else DEFAULT_GLIBC)


def _scan_layers(base: BaseImage, store) -> tuple[dict[str, str], str]:
    """The Python interpreters the image holds (path -> minor version) and dpkg's status file."""
    pythons: dict[str, str] = {}
    dpkg_status = ""
    for layer in base.layers:
        path = fetch_blob(store, layer["digest"])
        try:
            dpkg_status = _scan_layer(path, pythons) or dpkg_status
        except READ_ERRORS as error:
            raise BuildError("image", f"base image {base.ref} has a layer that is no tar mlenv can read "
                             f"({layer['digest'][:19]}, {layer.get('mediaType', 'no media type')}): {error}",
                             "use a base image whose layers are tar, gzip or zstd (what docker, podman and buildah push)",
                             rule="image.unreadable-layer") from None
    return pythons, dpkg_status


def _scan_layer(path: Path, pythons: dict[str, str]) -> str:
    """One layer over the ones below: its interpreters into `pythons` (whiteouts remove them), and
    the dpkg status file it holds ("" if none)."""
    dpkg_status = ""
    with open_tar(path) as tar:  # gzip as most registries hold, zstd as podman can push
        for member in tar:
            name = member.name.removeprefix("./")
            directory, _, leaf = name.rpartition("/")
            if leaf.startswith(".wh."):
                pythons.pop(f"{directory}/{leaf[4:]}", None)
            elif _PYTHON.match(name) and (member.isfile() or member.issym() or member.islnk()):
                pythons[name] = _PYTHON.match(name).group(2)
            elif name == "var/lib/dpkg/status" and member.isfile():
                dpkg_status = tar.extractfile(member).read().decode("utf-8", "replace")
    return dpkg_status


def fetch_blob(store, digest: str) -> Path:
    """A base-image blob on local disk, downloaded once, verified by digest when downloaded and
    each time it is used (a damaged copy is downloaded again). One thread at a time per blob: the
    push of the base's layers and the scan for its facts may want the same one at once."""
    with _fetching.setdefault(digest, threading.Lock()):
        target = cache_root() / "blobs" / digest.replace(":", "/")
        if verified_file(target, digest.split(":")[1], "base-image blob"):
            return target
        return store.save_blob(digest, target)


_fetching: dict[str, threading.Lock] = {}  # dict.setdefault is atomic: one lock per digest
