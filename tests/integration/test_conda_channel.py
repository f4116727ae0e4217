"""The local conda channel the conda builder is tested against: real .conda packages over HTTP, solved
and installed by the real py-rattler, as the builder will."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from rattler import BuildString, Gateway, GenericVirtualPackage, PackageName, Subdir, Version, install, solve
from rattler.exceptions import GatewayError, SolverError

from testbed import conda_channel as testbed_channel
from testbed.conda_channel import run_coroutine

pytestmark = pytest.mark.integration

PLATFORMS = ["linux-64", "noarch"]
SPECS = ["python", "pip", "mlhello", "prefixprobe", "chain-a", "tinylib"]
EXPECTED = {
    "linux-64": {("python", "3.11.2"), ("prefixprobe", "1.0"), ("needs-glibc", "1.0"), ("needs-cuda", "1.0")},
    "noarch": {("pip", testbed_channel.PIP_VERSION), ("mlhello", "1.0"), ("tinylib", "1.0"), ("tinylib", "2.0"),
               ("chain-a", "1.0"), ("chain-b", "1.0"), ("chain-c", "1.0")},
}
GLIBC_SONAMES = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
                 "libutil.so.1"}


def virtual_packages(glibc: str = "2.36") -> list[GenericVirtualPackage]:
    """The target's virtual packages, as the builder passes them (not the host's)."""
    return [GenericVirtualPackage(PackageName(name), Version(version), BuildString(build))
            for name, version, build in [("__glibc", glibc, "0"), ("__linux", "6.1", "0"), ("__unix", "0", "0")]]


def solved(channel_url: str, specs: list[str], cache: Path, glibc: str = "2.36") -> dict:
    records = run_coroutine(solve([channel_url], specs, gateway=Gateway(cache_dir=cache), platforms=PLATFORMS,
                                virtual_packages=virtual_packages(glibc)))
    return {record.name.normalized: record for record in records}


def installed(records: dict, target: Path, cache: Path, alternative: str | None = None) -> Path:
    run_coroutine(install(list(records.values()), target_prefix=target, cache_dir=cache, platform=Subdir("linux-64"),
                        alternative_target_prefix=alternative, execute_link_scripts=False, show_progress=False))
    return target


def run(program: Path, env: dict, *args: str) -> str:
    done = subprocess.run([program, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def everything(conda_channel, tmp_path_factory) -> dict:
    return solved(conda_channel.url, SPECS, tmp_path_factory.mktemp("rattler-cache"))


def test_repodata_lists_every_package(conda_channel):
    for subdir, expected in EXPECTED.items():
        repodata = httpx.get(f"{conda_channel.url}/{subdir}/repodata.json").json()
        listed = {(record["name"], record["version"]) for record in repodata["packages.conda"].values()}
        assert listed == expected
        assert all((conda_channel.root / subdir / name).is_file() for name in repodata["packages.conda"])


def test_solve_takes_the_chain_and_the_newest_tinylib(everything):
    assert set(everything) == {"python", "pip", "mlhello", "prefixprobe", "chain-a", "chain-b", "chain-c", "tinylib"}
    assert str(everything["tinylib"].version) == "2.0"
    assert str(everything["python"].version).startswith("3.11.")
    assert everything["python"].depends == ["__glibc >=2.36"]


def test_a_pin_selects_the_older_tinylib(conda_channel, tmp_path):
    assert str(solved(conda_channel.url, ["tinylib==1.0"], tmp_path)["tinylib"].version) == "1.0"


def test_a_package_needing_a_newer_glibc_is_unsatisfiable(conda_channel, tmp_path):
    with pytest.raises(SolverError, match=re.escape("__glibc >=2.99")):
        solved(conda_channel.url, ["needs-glibc"], tmp_path)


def test_python_needs_the_glibc_of_bookworm(conda_channel, tmp_path):
    with pytest.raises(SolverError, match=re.escape("__glibc >=2.36")):
        solved(conda_channel.url, ["python"], tmp_path, glibc="2.31")


def test_install_relocates_placeholders_to_the_image_prefix(everything, tmp_path):
    target = installed(everything, tmp_path / "staging", tmp_path / "pkgs", alternative="/opt/env")
    assert (target / "etc/prefixprobe.conf").read_text() == "prefix=/opt/env\n"
    binary = (target / "bin/prefixprobe").read_bytes()
    assert b"/opt/env\0" in binary and b"placehold" not in binary and str(target).encode() not in binary
    assert (target / "bin/mlhello").read_text().startswith("#!/opt/env/bin/python3.11\n")
    records = sorted(path.name for path in (target / "conda-meta").glob("*.json"))
    assert records == sorted(f"{record.file_name.removesuffix('.conda')}.json" for record in everything.values())


def test_installed_python_runs_from_its_own_prefix(everything, tmp_path):
    target = installed(everything, tmp_path / "env", tmp_path / "pkgs")
    env = {"PATH": "/usr/bin:/bin"}  # nothing of the host's Python setup
    site_packages = target / "lib/python3.11/site-packages"
    code = "import sys, sysconfig, ssl, sqlite3, ctypes, lzma, bz2, mlhello; print(sys.prefix, sysconfig.get_path('purelib'))"
    assert run(target / "bin/python3.11", env, "-c", code).split() == [str(target), str(site_packages)]
    assert run(target / "bin/mlhello", env) == f"mlhello 1.0 from {target}"
    assert run(target / "bin/prefixprobe", env) == str(target)
    assert run(target / "bin/pip", env, "--version").startswith(f"pip {testbed_channel.PIP_VERSION} from {site_packages}/pip")
    assert not (target / "lib/python3.11/EXTERNALLY-MANAGED").exists()


def test_python_loads_no_library_from_the_host_but_glibc(everything, tmp_path):
    """What a base image without Python proves: every shared library but glibc's comes from the prefix."""
    target = installed({"python": everything["python"]}, tmp_path / "env", tmp_path / "pkgs")
    elves = [target / "bin/python3.11", *(target / "lib/python3.11/lib-dynload").glob("*.so")]
    assert len(elves) > 30
    for elf in elves:
        for line in subprocess.run(["ldd", elf], capture_output=True, text=True, check=True).stdout.splitlines():
            soname, arrow, location = line.strip().partition(" => ")
            assert not arrow or soname in GLIBC_SONAMES or location.startswith(str(target)), (elf.name, line)


def test_token_channel_answers_only_under_its_token(conda_channel_token, tmp_path):
    base, token = conda_channel_token.url, conda_channel_token.extra["token"]
    assert httpx.get(f"{base}/noarch/repodata.json").status_code == 401
    assert httpx.get(f"{base}/t/wrong-{token}/noarch/repodata.json").status_code == 403
    with pytest.raises(GatewayError, match="401"):
        solved(base, ["tinylib"], tmp_path / "no-token")
    records = solved(f"{base}/t/{token}", ["chain-a"], tmp_path / "token")
    assert set(records) == {"chain-a", "chain-b", "chain-c"}
    assert token not in conda_channel_token.log.read_text()


def test_staged_packages_are_the_same_bytes_every_build(tmp_path):
    """assemble_package with a fixed timestamp: a rebuilt package is byte-identical."""
    builds = []
    for attempt in ("one", "two"):
        channel = tmp_path / attempt / "channel"
        (channel / "noarch").mkdir(parents=True)
        package = testbed_channel._assemble(channel, "tinylib", "1.0", {"share/tinylib/data.txt": "same\n"})
        builds.append(package.read_bytes())
    assert builds[0] == builds[1]


def test_channel_is_cached_small_and_in_the_test_cache(conda_channel):
    started = time.monotonic()
    assert testbed_channel.ensure_conda_channel() == conda_channel.root
    assert time.monotonic() - started < 5
    assert conda_channel.root.name == f"conda-channel-v{testbed_channel.CHANNEL_VERSION}"
    assert sorted(path.name for path in conda_channel.root.iterdir()) == ["linux-64", "noarch"]
    size = sum(path.stat().st_size for path in conda_channel.root.rglob("*") if path.is_file())
    assert size < 60 * 1024 * 1024
