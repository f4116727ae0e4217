"""A relocatable CPython 3.11 for the test conda channel, staged from the Debian bookworm rootfs.

Conda-forge is out of reach here, so the channel's `python` is Debian's interpreter and stdlib moved into
a conda prefix layout (bin/, lib/python3.11/, lib/ for the shared libraries it needs). Three things make
Debian's Python behave as a conda one:
- every shared library outside glibc travels with it, found through an RPATH relative to $ORIGIN
  (a base image without Python has none of them);
- `site` is frozen into Debian's binary and puts only dist-packages on sys.path, so a sitecustomize.py
  adds PREFIX/lib/python3.11/site-packages (where noarch python packages land);
- Debian's sysconfig prefers its /usr/local layout ('posix_local'); the copy here prefers 'posix_prefix',
  so `pip install` writes into the prefix's own site-packages, and EXTERNALLY-MANAGED is removed.
Python finds its prefix from the executable's location (lib/python3.11/os.py), so any prefix works.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

STDLIB = "usr/lib/python3.11"
LIBDIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib")
# The C library's own objects: every base image has them, so they are never shipped.
GLIBC_SONAMES = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
    "libutil.so.1", "libanl.so.1", "ld-linux-x86-64.so.2",
}
# Not needed to run programs and large: left out to keep the channel small and its build fast.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__", "EXTERNALLY-MANAGED",
               "sitecustomize.py"}
SITECUSTOMIZE = '''\
"""Conda prefix: Debian's frozen `site` adds only dist-packages, so add this prefix's site-packages."""
import os
import site
import sys

site.addsitedir(os.path.join(sys.prefix, "lib", "python%d.%d" % sys.version_info[:2], "site-packages"))
'''
DEBIAN_SCHEME = "            prefix_scheme = 'posix_local'\n"
CONDA_SCHEME = "            prefix_scheme = 'posix_prefix'  # a conda prefix installs into its own site-packages\n"


@dataclass(frozen=True)
class StagedPython:
    version: str  # e.g. 3.11.2, from the Debian package's version
    glibc: str  # the newest GLIBC_x.y symbol version any shipped binary needs


def stage_python(rootfs_tar: Path, stage: Path, scratch: Path) -> StagedPython:
    """Lay out a conda `python` package's files in `stage` from the rootfs tar (scratch: extraction room)."""
    _extract(rootfs_tar, scratch)
    (stage / "bin").mkdir(parents=True)
    shutil.copy2(scratch / "usr/bin/python3.11", stage / "bin/python3.11")
    for alias in ("python3", "python"):
        (stage / "bin" / alias).symlink_to("python3.11")
    stdlib = stage / "lib/python3.11"
    shutil.copytree(scratch / STDLIB, stdlib, symlinks=True, ignore=lambda _dir, names: STDLIB_SKIP & set(names))
    (stdlib / "sitecustomize.py").write_text(SITECUSTOMIZE)
    _prefer_prefix_scheme(stdlib / "sysconfig.py")
    elves = [stage / "bin/python3.11", *sorted((stdlib / "lib-dynload").glob("*.so"))]
    libraries = _bundle_libraries(elves, scratch, stage / "lib")
    _set_rpaths(stage, libraries)
    return StagedPython(version=_debian_python_version(scratch), glibc=_newest_glibc([*elves, *libraries]))


def _extract(rootfs_tar: Path, scratch: Path) -> None:
    """Only the interpreter, its stdlib, the shared libraries and dpkg's status (for the version)."""
    wanted = ("./usr/bin/python3.11", f"./{STDLIB}/", "./usr/lib/x86_64-linux-gnu/", "./var/lib/dpkg/status")
    with tarfile.open(rootfs_tar) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(wanted) and not (m.issym() and m.linkname.startswith("/")) and not m.isdev()]
        tar.extractall(scratch, members=members, filter="data")


def _prefer_prefix_scheme(sysconfig: Path) -> None:
    text = sysconfig.read_text()
    if text.count(DEBIAN_SCHEME) != 1:
        raise RuntimeError(f"{sysconfig}: Debian's 'posix_local' default not found once; the rootfs changed")
    sysconfig.write_text(text.replace(DEBIAN_SCHEME, CONDA_SCHEME))


def _needed(elf: Path) -> list[str]:
    done = subprocess.run(["patchelf", "--print-needed", str(elf)], check=True, capture_output=True, text=True)
    return done.stdout.split()


def _find_library(soname: str, scratch: Path) -> Path:
    for libdir in LIBDIRS:
        candidate = scratch / libdir / soname
        if candidate.exists():
            return candidate.resolve()
    raise RuntimeError(f"{soname}: needed by Debian's python3.11 but not in the rootfs ({', '.join(LIBDIRS)})")


def _bundle_libraries(elves: list[Path], scratch: Path, libdir: Path) -> list[Path]:
    """Copy every non-glibc library the ELF files need, transitively, into libdir under its soname."""
    libdir.mkdir(parents=True, exist_ok=True)
    pending = [soname for elf in elves for soname in _needed(elf)]
    shipped: dict[str, Path] = {}
    while pending:
        soname = pending.pop()
        if soname in GLIBC_SONAMES or soname in shipped:
            continue
        source = _find_library(soname, scratch)
        shipped[soname] = libdir / soname
        shutil.copyfile(source, shipped[soname])
        shipped[soname].chmod(0o755)
        pending.extend(_needed(source))
    return [shipped[name] for name in sorted(shipped)]


def _set_rpaths(stage: Path, libraries: list[Path]) -> None:
    """DT_RPATH (not RUNPATH) so the libraries' own dependencies are found in PREFIX/lib too."""
    targets = [(stage / "bin/python3.11", "$ORIGIN/../lib")]
    targets += [(so, "$ORIGIN/../..") for so in sorted((stage / "lib/python3.11/lib-dynload").glob("*.so"))]
    targets += [(library, "$ORIGIN") for library in libraries]
    for elf, rpath in targets:
        subprocess.run(["patchelf", "--force-rpath", "--set-rpath", rpath, str(elf)], check=True)


def _debian_python_version(scratch: Path) -> str:
    status = (scratch / "var/lib/dpkg/status").read_text()
    match = re.search(r"^Package: python3\.11-minimal\n(?:[^\n]+\n)*?Version: (3\.11\.\d+)", status, re.M)
    if not match:
        raise RuntimeError("python3.11-minimal's version not found in the rootfs's dpkg status")
    return match.group(1)


def _newest_glibc(elves: list[Path]) -> str:
    versions = {tuple(map(int, found)) for elf in elves for found in re.findall(rb"GLIBC_(\d+)\.(\d+)", elf.read_bytes())}
    return "%d.%d" % max(versions)
