"""Bytecode for the pip layers, made on the host so the image starts fast even on a read-only root.

Each layer's `.py` files get their `__pycache__/*.pyc`, compiled with invalidation mode
`unchecked-hash`: the file records a hash of its source instead of an mtime (layers have mtime 0)
and Python trusts it without checking, so importing never reads the source twice nor writes.

Only an interpreter of the target's major.minor version can write its bytecode, so one is looked
up on the host (the first `pythonX.Y` on PATH). Its exact version can change the bytes, so it is in
the lock (`Lock.bytecode`) and in the layers' cache keys. Without one, the layers carry no bytecode
and the lock says "none": visible, and never a guess. Each layer is compiled in a fresh process with
PYTHONHASHSEED=0, its files in sorted order: marshal's output then depends only on the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from mlenv.diagnostics.errors import BuildError

NONE = "none"  # the lock's record of a build that could not compile bytecode

_COMPILE = r"""
import importlib.util, os, py_compile, sys
stage, image_root = sys.argv[1], sys.argv[2]
sources = sorted(os.path.join(d, f) for d, _, files in os.walk(stage) for f in files if f.endswith(".py"))
for source in sources:
    inside = image_root + "/" + os.path.relpath(source, stage)
    try:
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source), dfile=inside, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:
        pass  # a file the target cannot compile (a template, Python 2 code) is left as source, as pip does
"""


@dataclass(frozen=True)
class Compiler:
    path: str       # the host interpreter
    version: str    # "CPython 3.11.7": what the lock records

    def compile(self, site: Path, image_site: str) -> None:
        """Write bytecode beside every .py below `site` (staged), naming the files by where they
        live in the image (`image_site`) in tracebacks."""
        if not site.is_dir():
            return
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}
        # not -I: it would ignore PYTHONHASHSEED; the environment is ours alone, and cwd "/" keeps sys.path clean
        done = subprocess.run([self.path, "-s", "-c", _COMPILE, str(site), image_site], env=env, cwd="/", capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError("bytecode", f"compiling bytecode with {self.path} failed", "report it with the saved log",
                             rule="generic.error", output=done.stderr)


    def compile_tree(self, tree, image_site: str) -> None:
        """Add bytecode for the `.py` files of a layer held in memory (oci/tree.py) below `image_site`:
        only those sources are written out, in a scratch folder of the tree's, and compiled there; the
        tree then reads them and their `.pyc` files from that folder when the tar is written."""
        prefix = image_site.strip("/") + "/"
        sources = {path: entry for path, entry in tree.entries.items()
                   if entry.kind == "file" and path.startswith(prefix) and path.endswith(".py")}
        if not sources:
            return
        site = tree.scratch_dir("mlenv-bytecode-")
        for path, entry in sources.items():
            staged = site / path[len(prefix):]
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(tree.read(entry))
            tree.entries[path] = replace(entry, content=staged)  # read from here, not decompressed from the wheel again
        self.compile(site, image_site)
        for pyc in sorted(site.rglob("__pycache__/*.pyc")):
            tree.add_file(prefix + pyc.relative_to(site).as_posix(), pyc)


def find_compiler(python_version: str) -> Compiler | None:
    """The first `pythonX.Y` on PATH that really is CPython X.Y, else None. Its path is the
    interpreter's own (`sys.executable`), asked from "/" as the compiling runs: a version manager's
    shim (pyenv's is a shell script that picks the interpreter by folder) is not run once per layer."""
    found = shutil.which(f"python{python_version}")
    if not found:
        return None
    probe = "import platform, sys; print(platform.python_implementation(), platform.python_version(), '%d.%d' % sys.version_info[:2], sys.executable)"
    try:
        done = subprocess.run([found, "-I", "-c", probe], capture_output=True, text=True, timeout=30, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.strip().split(" ", 3)
    if done.returncode != 0 or len(words) < 3 or words[0] != "CPython" or words[2] != python_version:
        return None
    return Compiler(words[3] if len(words) == 4 and words[3] else found, f"CPython {words[1]}")


def bytecode_decision(python_version: str, log) -> Compiler | None:
    """The compiler for the target's Python, said in the build log either way."""
    compiler = find_compiler(python_version)
    if compiler:
        log(f"bytecode: compiled by {compiler.path} ({compiler.version}), unchecked-hash")
    else:
        log(f"bytecode: none (no python{python_version} on this machine's PATH; install it to ship bytecode)")
    return compiler
