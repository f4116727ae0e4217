"""Direct references in the lock (`name @ https://…`, `name @ git+…`), as the wheels to install.

uv resolves them (it reads the archive or checks out the repository to learn their dependencies)
and locks each by what it found: an archive by its URL and sha256, a git reference by the commit
its branch or tag pointed at. A wheel is installed as it is; an sdist archive or a checkout is
built into a pure wheel here (sdist_build.py), and the lock keeps where it came from (`source`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from mlenv.digests import sha256_file
from mlenv.resolve.index import IndexSettings
from mlenv.resolve.locked_wheel import LockedWheel, hash_checked
from mlenv.resolve.sdist_build import wheel_from_git, wheel_from_sdist
from mlenv.resolve.wheel_download import fetch_file


def is_direct(package: dict) -> bool:
    archive = package.get("archive") or {}
    return bool(package.get("vcs") or archive.get("url"))


def locked_direct(package: dict, index: IndexSettings, allowed_hashes: tuple[str, ...] | None) -> LockedWheel:
    """The wheel for a pylock entry with `vcs` or a remote `archive`."""
    name, version = canonicalize_name(package["name"]), package["version"]
    pin = f"{name}=={version}"
    vcs = package.get("vcs")
    if vcs:
        subdirectory = vcs.get("subdirectory")
        source = f"git+{vcs['url']}@{vcs['commit-id']}" + (f"#subdirectory={subdirectory}" if subdirectory else "")
        return built_wheel(name, version, wheel_from_git(pin, vcs["url"], vcs["commit-id"], subdirectory, index), source)
    archive = hash_checked(name, [package["archive"]], allowed_hashes)[0]
    url, sha256 = archive["url"], archive["hashes"]["sha256"]
    filename = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        return LockedWheel(name=name, version=version, filename=filename, url=url, sha256=sha256, size=int(archive.get("size") or 0))
    sdist = fetch_file(url, filename, sha256, index)
    return built_wheel(name, version, wheel_from_sdist(pin, sdist, sha256, index), f"{url}#sha256={sha256}")


def built_wheel(name: str, version: str, path: Path, source: str) -> LockedWheel:
    sha256 = sha256_file(path)
    return LockedWheel(name=name, version=version, filename=path.name, url=path.as_uri(), sha256=sha256, size=path.stat().st_size, source=source)
