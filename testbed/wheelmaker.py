"""Make small, real wheels and sdists on the fly (zip + METADATA/WHEEL/RECORD; tar.gz + PKG-INFO), for
tests that need a package with particular contents, tags or build rules and no index."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str], scripts: dict[str, str] | None = None,
               requires_python: str | None = None, *, tag: str = "py3-none-any") -> Path:
    """A wheel; `tag` may be compressed (`cp310-cp310-manylinux2014_x86_64`), a non-pure tag makes a platlib wheel."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        contents[f"{dist_info}/METADATA"] += f"Requires-Python: {requires_python}\n"
    pure = tag.endswith("-none-any")
    contents[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: {str(pure).lower()}\nTag: {tag}\n"
    if scripts:
        contents[f"{dist_info}/entry_points.txt"] = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    record = [f"{path},sha256={_b64(text.encode())},{len(text.encode())}" for path, text in contents.items()]
    contents[f"{dist_info}/RECORD"] = "\n".join(record + [f"{dist_info}/RECORD,,"]) + "\n"
    target = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, text in contents.items():
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), text)
    return target


def make_sdist(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A source distribution `name-version.tar.gz` holding PKG-INFO and `files` (paths inside the
    project folder), with fixed mtimes so it is the same file every time it is made."""
    root = f"{name}-{version}"
    contents = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **files}
    target = folder / f"{root}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, text in sorted(contents.items()):
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size, info.mode = len(text.encode()), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
    target.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return target


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
