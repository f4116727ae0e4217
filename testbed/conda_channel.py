"""A local conda channel of real .conda packages, built here once and served over HTTP on 127.0.0.1.

conda-forge is out of reach from the test machines, so the conda builder's tests make their own channel:
- packages of staged files go through py-rattler-build's `assemble_package` (deterministic: fixed
  timestamp, same bytes every build): `python` (Debian's interpreter made relocatable, see
  conda_python.py), two `tinylib` versions, the `chain-a` -> `chain-b` -> `chain-c` chain and
  `needs-glibc`, which asks for a glibc no base has, and `needs-cuda` (a GPU build: `__cuda >=12`);
- packages that need a prefix placeholder or info/link.json are small recipes run by py-rattler-build
  (`assemble_package` records no placeholder and writes no link.json): `pip` from its real wheel and
  `mlhello` (noarch python with console entry points), `prefixprobe` (a C program built with the host's
  gcc, printing its compiled-in prefix, and a text file holding it). rattler-build stamps these with the
  build time, so their bytes differ from build to build (contents and paths do not).
py-rattler's `index_fs` writes each subdir's repodata.json. A token server answers only under
/t/<token>/, as anaconda.org's private channels do.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from testbed import services
from testbed.conda_python import stage_python

CHANNEL_VERSION = 2  # bump when any package below changes: the cached channel is rebuilt
PIP_VERSION = "24.2"
TIMESTAMP = datetime(2024, 1, 1, tzinfo=timezone.utc)
SUBDIRS = ("linux-64", "noarch")
SERVER = Path(__file__).with_name("conda_server.py")
from testbed.conda_server import BASIC_ENV, TOKEN_ENV
PIP_ENTRY_POINTS = ["pip = pip._internal.cli.main:main", "pip3 = pip._internal.cli.main:main"]
MLHELLO = '''\
"""A tiny noarch python package with a console entry point, for the conda builder's tests."""
import sys

__version__ = "1.0"


def main() -> None:
    print(f"mlhello {__version__} from {sys.prefix}")
'''
PREFIXPROBE_C = """\
#include <stdio.h>
/* The conda prefix placeholder: the installer replaces it, padding the rest of the string with NULs. */
static const char prefix[] = MLENV_PREFIX;
int main(void) { puts(prefix); return 0; }
"""
PREFIXPROBE_SCRIPT = [
    'mkdir -p "$PREFIX/bin" "$PREFIX/etc"',
    'gcc -O2 -DMLENV_PREFIX="\\"$PREFIX\\"" -o "$PREFIX/bin/prefixprobe" "$RECIPE_DIR/prefixprobe.c"',
    'echo "prefix=$PREFIX" > "$PREFIX/etc/prefixprobe.conf"',
]


def ensure_conda_channel() -> Path:
    """The channel folder (linux-64/, noarch/, each with repodata.json); built once per CHANNEL_VERSION."""
    target = services.CACHE / f"conda-channel-v{CHANNEL_VERSION}"
    with services._locked("conda-channel"):
        if (target / "noarch" / "repodata.json").exists():
            return target
        wheel = _pip_wheel()
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=services.CACHE, prefix=".conda-channel-build-") as work:
            channel = Path(work) / "channel"
            _build_all(channel, Path(work), wheel)
            run_coroutine(_index(channel))
            os.replace(channel, target)
        _remove_old_channels(target)
    return target


def run_coroutine(coroutine):
    """Run one of py-rattler's coroutines on a private loop: asyncio.run() would leave the main thread
    without a current event loop, and Pulumi's SDK, later in the same process, asks for one."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _build_all(channel: Path, work: Path, wheel: Path) -> None:
    for subdir in SUBDIRS:
        (channel / subdir).mkdir(parents=True)
    _python(channel, work)
    tinylib = "tinylib: a small data package in two versions\n"
    _assemble(channel, "tinylib", "1.0", {"share/tinylib/data.txt": tinylib * 4})
    _assemble(channel, "tinylib", "2.0", {"share/tinylib/data.txt": tinylib * 5})
    _assemble(channel, "chain-a", "1.0", {"share/chain-a/README": "chain-a\n"}, depends=["chain-b >=1"])
    _assemble(channel, "chain-b", "1.0", {"share/chain-b/README": "chain-b\n"}, depends=["chain-c >=1"])
    _assemble(channel, "chain-c", "1.0", {"share/chain-c/README": "chain-c\n"})
    _assemble(channel, "needs-glibc", "1.0", {"share/needs-glibc/README": "needs glibc 2.99\n"},
              subdir="linux-64", depends=["__glibc >=2.99"])
    _assemble(channel, "needs-cuda", "1.0", {"share/needs-cuda/README": "a GPU build: needs a CUDA 12 driver\n"},
              subdir="linux-64", depends=["__cuda >=12"])
    # Recipes run in a neutral folder: its path becomes the placeholder recorded in paths.json.
    recipes = Path(tempfile.mkdtemp(prefix="mlenv-conda-build-"))
    try:
        _pip(channel, recipes, wheel)
        _noarch_python(channel, recipes, "mlhello", "1.0", {"site-packages/mlhello/__init__.py": MLHELLO},
                       entry_points=["mlhello = mlhello:main"])
        _recipe(channel, recipes, {"package": {"name": "prefixprobe", "version": "1.0"},
                                   "build": {"number": 0, "script": PREFIXPROBE_SCRIPT}},
                sources={"prefixprobe.c": PREFIXPROBE_C})
    finally:
        shutil.rmtree(recipes, ignore_errors=True)


def _python(channel: Path, work: Path) -> None:
    stage = work / "python-stage"
    staged = stage_python(services.ensure_base_rootfs(), stage, work / "rootfs")
    _assemble(channel, "python", staged.version, stage, subdir="linux-64", build="0_cpython",
              depends=[f"__glibc >={staged.glibc}"], license="PSF-2.0")


def _assemble(channel: Path, name: str, version: str, files: dict[str, str] | Path, *,
              subdir: str = "noarch", depends: list[str] | None = None, build: str = "0",
              license: str = "MIT") -> Path:
    """One package of staged files (a folder, or {path: text}) via assemble_package, same bytes each time."""
    from rattler_build import assemble_package

    with tempfile.TemporaryDirectory(dir=channel.parent) as scratch:
        folder = files if isinstance(files, Path) else _write_tree(Path(scratch) / "files", files)
        output = assemble_package(name, version, subdir, build, channel / subdir, files_dir=folder,
                                  noarch="generic" if subdir == "noarch" else None, depends=depends or [],
                                  timestamp=TIMESTAMP, detect_prefix=False, license=license,
                                  summary=f"{name}: a test package of the mlenv test channel")
    return output.path


def _write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _pip(channel: Path, recipes: Path, wheel: Path) -> None:
    files = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.endswith("/"):
                files[f"site-packages/{name}"] = archive.read(name)
    _noarch_python(channel, recipes, "pip", PIP_VERSION, files, entry_points=PIP_ENTRY_POINTS)


def _noarch_python(channel: Path, recipes: Path, name: str, version: str, files: dict[str, str | bytes], *,
                   entry_points: list[str]) -> None:
    """A noarch python package: files under site-packages/, entry points in info/link.json."""
    recipe = {
        "package": {"name": name, "version": version},
        "build": {"number": 0, "noarch": "python", "python": {"entry_points": entry_points},
                  "script": ['cp -R "$RECIPE_DIR/files/." "$PREFIX/"']},
        "requirements": {"run": ["python >=3.8"]},
    }
    _recipe(channel, recipes, recipe, sources={f"files/{path}": text for path, text in files.items()})


def _recipe(channel: Path, recipes: Path, recipe: dict, *, sources: dict[str, str | bytes]) -> None:
    """Run one recipe with py-rattler-build offline; move the .conda it makes into the channel."""
    from rattler_build import Stage0Recipe

    name = recipe["package"]["name"]
    recipe_dir = _write_tree(recipes / name, sources)
    results = Stage0Recipe.from_dict(recipe, recipe_dir=recipe_dir).run_build(
        output_dir=recipes / "out", channels=[channel.as_uri()], no_build_id=True, no_include_recipe=True)
    for result in results:
        for package in result.packages:
            package = Path(package)
            package.chmod(0o644)  # rattler-build writes 0600
            shutil.move(package, channel / result.platform / package.name)


async def _index(channel: Path) -> None:
    from rattler.index import index_fs

    await index_fs(channel, write_zst=False, write_shards=False, force=True)
    shutil.rmtree(channel / ".tmp", ignore_errors=True)  # index_fs's scratch folder, left empty


def _pip_wheel() -> Path:
    """pip's real wheel from PyPI, downloaded once (kept across channel versions)."""
    folder = services.CACHE / "conda-sources"
    wheel = folder / f"pip-{PIP_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
        env["PIP_CONFIG_FILE"] = os.devnull
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", str(folder), f"pip=={PIP_VERSION}"], check=True, env=env)
    return wheel


def _remove_old_channels(current: Path) -> None:
    for old in current.parent.glob("conda-channel-v*"):
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def start_conda_channel(folder: Path, workdir: Path, token: str | None = None, basic: tuple[str, str] | None = None,
                        *, named: str = "") -> services.Server:
    """Serve the channel folder on 127.0.0.1. With a token, only /t/<token>/... answers (401 without a
    token, 403 with a wrong one); `url` is then the server root and the token is in `extra["token"]`.
    With `basic` (user, password), every request needs that HTTP basic login (401 otherwise).
    With `named` (e.g. "conda-forge"), the channel is served at /<named>/ and `url` is the server
    root: a channel alias (MLENV_CONDA_CHANNEL_ALIAS) under which that channel name resolves."""
    workdir.mkdir(parents=True, exist_ok=True)
    served = folder
    if named:
        served = workdir / "alias-root"
        served.mkdir(exist_ok=True)
        (served / named).unlink(missing_ok=True)
        (served / named).symlink_to(folder.resolve(), target_is_directory=True)
    port = services.free_port()
    log = workdir / "conda-channel.log"
    env = {**os.environ, TOKEN_ENV: token or "", BASIC_ENV: ":".join(basic) if basic else ""}
    command = [sys.executable, str(SERVER), "--directory", str(served), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    server = services.Server(services._spawn(command, log, env=env), f"127.0.0.1:{port}", url, log, folder,
                             extra={"token": token} if token else {})
    channel_url = f"{url}/t/{token}" if token else f"{url}/{named}" if named else url
    return services._wait_until(server, f"{channel_url}/noarch/repodata.json", ok=(401,) if basic else (200,))
