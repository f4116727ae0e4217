"""Real servers on 127.0.0.1 for tests, the demo and the benchmarks, plus the cached artefacts they
serve: a wheelhouse of real wheels (downloaded once from PyPI) and a Debian rootfs (debootstrap, once).

Each start_* waits until its server answers and raises with the log tail if it never does.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CACHE = Path(os.environ.get("MLENV_TEST_CACHE", Path.home() / ".cache" / "mlenv"))
WHEELS = ["numpy==1.26.4", "requests==2.32.3", "six==1.16.0", "six==1.17.0", "tqdm==4.66.5", "idna==3.10",
          "setuptools==75.8.0", "wheel==0.45.1",  # build backends, so sdists build offline
          "pip==23.3.1", "pip==24.3.1"]  # the venv's pip: the newest, and the one the Azure ML fixtures pin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    host: str
    url: str
    log: Path
    root: Path | None = None
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _spawn(command: list[str], log: Path, **kwargs) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)


def _wait_until(server: Server, probe_url: str, ok: tuple[int, ...], timeout: float = 30) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(probe_url, timeout=2).status_code in ok:
                return server
        time.sleep(0.1)
    server.stop()
    tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
    raise RuntimeError(f"{server.process.args[0]} did not answer at {probe_url} within {timeout}s; log:\n{tail}")


def start_registry(workdir: Path, htpasswd: tuple[str, str] | None = None) -> Server:
    """The CNCF Distribution registry (Debian's docker-registry) with filesystem storage in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if htpasswd:
        user, password = htpasswd
        (workdir / "htpasswd").write_text(f"{user}:{_bcrypt(password)}\n")
        auth = f"auth:\n  htpasswd:\n    realm: mlenv-test\n    path: {workdir / 'htpasswd'}\n"
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = workdir / "registry.log"
    process = _spawn(["docker-registry", "serve", str(config)], log)
    server = Server(process, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}", log, workdir / "data")
    return _wait_until(server, f"{server.url}/v2/", ok=(200, 401))


def start_pypiserver(package_dir: Path, workdir: Path, htpasswd: tuple[str, str] | None = None) -> Server:
    """pypiserver over a directory of real wheels; never falls back to the public index. With htpasswd,
    listing and downloads need those credentials (a private index)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "pypiserver.log"
    auth = ["-a", ".", "-P", "."]
    if htpasswd:
        (workdir / "htpasswd").write_text(f"{htpasswd[0]}:{_bcrypt(htpasswd[1])}\n")
        auth = ["-a", "download,list,update", "-P", str(workdir / "htpasswd")]
    command = [sys.executable, str(Path(__file__).with_name("pypi_index.py")), "run", "-p", str(port), "-i", "127.0.0.1", *auth,
               "--disable-fallback", "--hash-algo", "sha256", "--log-stream", "none", "--server", "wsgiref", str(package_dir)]
    server = Server(_spawn(command, log), f"127.0.0.1:{port}", f"http://127.0.0.1:{port}/simple/", log)
    return _wait_until(server, server.url, ok=(200, 401))


def _bcrypt(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()


@contextlib.contextmanager
def _locked(name: str):
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_wheelhouse() -> Path:
    """Real wheels for Linux x86_64 / CPython 3.11, downloaded once with pip; plus the packages made here."""
    target = CACHE / "wheelhouse"
    marker = target / ".complete"
    with _locked("wheelhouse"):
        target.mkdir(parents=True, exist_ok=True)
        _write_local_wheels(target)
        if marker.exists() and marker.read_text() == "\n".join(WHEELS):
            return target
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
        env["PIP_CONFIG_FILE"] = os.devnull
        for requirement in WHEELS:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                 "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
                 "-d", str(target), requirement],
                check=True, env=env,
            )
        marker.write_text("\n".join(WHEELS))
    return target


def _write_local_wheels(folder: Path) -> None:
    """Real packages made here for failures PyPI's files cannot show on demand (each written once)."""
    from testbed.wheelmaker import make_sdist, make_wheel

    def once(filename: str, make) -> None:
        if not (folder / filename).exists():
            make()

    once("needs_py399-1.0-py3-none-any.whl", lambda: make_wheel(folder, "needs_py399", "1.0", {"needs_py399/__init__.py": ""}, requires_python=">=3.99"))
    for name, version in (("oldpython", "1.0"), ("fallback", "2.0"), ("prefall", "1.6.1")):  # wheels stop at CPython 3.10
        for python in ("cp38", "cp39", "cp310"):
            tag = f"{python}-{python}-manylinux2014_x86_64"
            once(f"{name}-{version}-{tag}.whl", lambda: make_wheel(folder, name, version, {f"{name}/__init__.py": ""}, tag=tag))
    for name, version in (("fallback", "1.0"), ("prefall", "0.1.0b1"), ("purenew", "1.0")):  # an older version that installs
        once(f"{name}-{version}-py3-none-any.whl", lambda: make_wheel(folder, name, version, {f"{name}/__init__.py": f"VERSION = {version!r}\n"}))
    once("onlysdist-0.1.tar.gz", lambda: make_sdist(folder, "onlysdist", "0.1", {  # no wheel at all, no build-system table
        "pyproject.toml": '[project]\nname = "onlysdist"\nversion = "0.1"\n', "onlysdist/__init__.py": ""}))
    setuptools_project = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "{0}"\nversion = "{1}"\n'
    once("purenew-2.0.tar.gz", lambda: make_sdist(folder, "purenew", "2.0", {  # the newest is an sdist only, pure Python
        "pyproject.toml": setuptools_project.format("purenew", "2.0"), "purenew/__init__.py": "VERSION = '2.0'\n"}))
    once("cext-0.1.tar.gz", lambda: make_sdist(folder, "cext", "0.1", {  # a C extension: needs a compiler
        "pyproject.toml": setuptools_project.format("cext", "0.1"),
        "setup.py": "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('cext._speed', ['cext/_speed.c'])])\n",
        "cext/__init__.py": "", "cext/_speed.c": "#include <Python.h>\n"}))


def _debian_mirror() -> str:
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.sources")]:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"] and "security" not in words[1]:
                    return words[1]
                if words[:1] == ["deb"] and "security" not in line:
                    return next(w for w in words[1:] if w.startswith("http"))
    raise RuntimeError("no Debian mirror found in /etc/apt/sources.list(.d): debootstrap needs one")


def ensure_base_rootfs() -> Path:
    """Debian bookworm minbase with python3 and python3-venv (debootstrap once, then cached)."""
    target = CACHE / "bookworm-python-rootfs.tar"
    with _locked("rootfs"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=CACHE, prefix="rootfs-") as work:
            rootfs = Path(work) / "rootfs"
            subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                            "bookworm", str(rootfs), _debian_mirror()], check=True, stdout=subprocess.DEVNULL)
            for leftover in ["var/cache/apt/archives", "var/lib/apt/lists", "dev"]:
                shutil.rmtree(rootfs / leftover, ignore_errors=True)
                (rootfs / leftover).mkdir(parents=True, exist_ok=True)
            partial = Path(work) / "rootfs.tar"
            subprocess.run(["tar", "--numeric-owner", "--sort=name", "--mtime=@0", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            os.replace(partial, target)
    return target


def ensure_debian_without_python_rootfs() -> Path:
    """The debootstrap base with its Python taken out (interpreter, stdlib, python3 packages' files):
    a real Debian userland with glibc, where only a conda environment can bring the interpreter."""
    target = CACHE / "bookworm-nopython-rootfs.tar"
    with _locked("rootfs-nopython"):
        if target.exists():
            return target
        source = ensure_base_rootfs()
        partial = target.with_suffix(".part")
        with tarfile.open(source) as original, tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as out:
            for member in original:
                name = member.name.removeprefix("./")
                if _is_python_path(name):
                    continue
                out.addfile(member, original.extractfile(member) if member.isfile() else None)
        os.replace(partial, target)
    return target


def _is_python_path(name: str) -> bool:
    leaf = name.rsplit("/", 1)[-1]
    in_bin = name.startswith(("usr/bin/", "usr/local/bin/")) and leaf.startswith(("python", "pydoc", "py3"))
    return in_bin or name.startswith(("usr/lib/python3", "usr/local/lib/python3", "usr/share/python3"))


def ensure_nopython_rootfs() -> Path:
    """A tiny rootfs without any Python: for the 'base image has no Python' error."""
    target = CACHE / "nopython-rootfs.tar"
    if not target.exists():
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for directory in ("bin", "etc", "usr", "usr/bin"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            release = b'PRETTY_NAME="no python here"\n'
            info = tarfile.TarInfo("etc/os-release")
            info.size = len(release)
            tar.addfile(info, io.BytesIO(release))
        CACHE.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.getvalue())
    return target


def ensure_dockerd(timeout: float = 60) -> None:
    """A running Docker engine: the one already there, or dockerd started in the background."""
    import docker

    def ping() -> bool:
        with contextlib.suppress(Exception):
            return docker.from_env(timeout=5).ping()
        return False

    if ping():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / "dockerd.log"
    process = _spawn(["dockerd"], log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping():
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not start; log tail:\n{log.read_text(errors='replace')[-2000:]}")
