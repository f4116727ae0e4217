"""Every curated environment (provider/mlenv/definition/curated_envs/catalogue.yml) builds here from its
newest version file with `mlenv build`, as a user builds it; the real Docker engine runs the image and
imports each package the catalogue names, at the version the file locks; a second build is a cache hit
with the same digest. A new catalogue entry is covered without a change here.

Nothing is fetched from the internet while building, as on an air-gapped site: Docker Hub is a local
registry mirror holding library/debian:bookworm-slim (the debootstrap Debian without Python), conda-forge
is the test channel (python 3.11.2, pip 24.2) behind a channel alias, the index is pypiserver over the
pinned wheels (testbed/curated_index.py, downloaded once). The images are big (torch with its CUDA wheels:
~3 GB of layers), so this module has a registry and a build cache of its own, deleted when it ends, and
each image leaves the engine after its test. `pytest -s` prints seconds and sizes per environment.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.oci.rootfs import import_rootfs
from testbed import services
from testbed.conda_channel import start_conda_channel
from testbed.curated_index import curated_folder, ensure_curated_channel, ensure_curated_wheels, pins_of
from tests.cli_runs import run

pytestmark = pytest.mark.integration

CATALOGUE = yaml.safe_load((curated_folder() / "catalogue.yml").read_text())
RESULTS: dict[str, dict] = {}
NEED_FREE = 20e9  # measured: ~17 GB at the peak (torch: 3.3 GB in the registry, 6.3 GB of build cache, 5.6 GB unpacked)
PROBE = """\
import importlib, importlib.metadata as metadata, json, platform, sys
owners = metadata.packages_distributions()
found = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    top = name.split(".")[0]
    dist = (owners.get(top) or [None])[0]
    found[name] = {"dist": dist, "version": metadata.version(dist) if dist else None,
                   "module_version": getattr(module, "__version__", None), "stdlib": top in sys.stdlib_module_names}
print(json.dumps({"python": platform.python_version(), "executable": sys.executable, "modules": found}))
"""


@dataclass
class Site:
    registry: services.Server
    index_url: str
    work: Path


def newest(name: str) -> Path:
    """What `mlenv:<name>@latest` names: the highest version file of that environment."""
    return max((curated_folder() / name).glob("*.yml"), key=lambda path: Version(path.stem))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("curated")
    if shutil.disk_usage(work).free < NEED_FREE:
        pytest.fail(f"the curated builds need {NEED_FREE / 1e9:.0f} GB free under {work} (registry, build cache, the torch image "
                    f"unpacked in dockerd); {shutil.disk_usage(work).free / 1e9:.1f} GB are")
    registry = services.start_registry(work / "registry")
    servers = [registry]
    try:
        servers.append(index := services.start_pypiserver(ensure_curated_wheels(), work / "pypiserver"))
        servers.append(channel := start_conda_channel(ensure_curated_channel(), work / "conda", named="conda-forge"))
        import_rootfs(services.ensure_debian_without_python_rootfs(), f"{registry.host}/library/debian:bookworm-slim")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLENV_REGISTRY_MIRRORS", f"http://{registry.host}")  # docker.io/library/debian comes from here
            patch.setenv("MLENV_CONDA_CHANNEL_ALIAS", channel.url)  # conda-forge is {alias}/conda-forge
            patch.setenv("MLENV_CACHE_DIR", str(work / "cache"))  # gigabytes of layers, gone with this module
            yield Site(registry, index.url, work)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def build(site: Site, definition: str, repository: str) -> tuple[dict, float]:
    started = time.monotonic()
    done = run("build", definition, "--registry", repository, "--index-url", site.index_url, "--json")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), seconds


def locked_versions(packages: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The build's lock as name → version, conda records (`python==3.11.2=0_cpython`, with a build
    string) apart from wheels (`numpy==2.1.3`)."""
    conda, wheels = {}, {}
    for package in packages:
        name, rest = package.split("==", 1)
        version, _, build = rest.partition("=")
        (conda if build else wheels)[canonicalize_name(name)] = version
    return conda, wheels


def image_bytes(site: Site, image_ref: str) -> int:
    """The compressed size of the image's layers, as the registry stores them."""
    repository, digest = image_ref.split("/", 1)[1].split("@")
    manifest = httpx.get(f"{site.registry.url}/v2/{repository}/manifests/{digest}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    return sum(layer["size"] for layer in manifest["layers"])


def folder_bytes(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file() and not entry.is_symlink())


def same_release(module_version: str | None, version: str) -> bool:
    """A module's own __version__ agrees with its distribution's (torch's `2.5.1+cu124` is 2.5.1)."""
    try:
        return module_version is None or Version(module_version).public == Version(version).public
    except (InvalidVersion, TypeError):
        return True  # not a version string at all: nothing to compare


def run_probe(engine, image_ref: str, modules: list[str]) -> dict:
    """Import `modules` in a fresh container of the image; the image leaves the engine afterwards."""
    image = engine.images.pull(image_ref)
    try:
        output = engine.containers.run(image_ref, ["python", "-c", PROBE, *modules], remove=True)
    finally:
        engine.images.remove(image.id, force=True)
    return {**json.loads(output), "unpacked": image.attrs["Size"]}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_builds_and_imports_its_packages_at_the_locked_versions(name, site, docker_engine):
    path, entry = newest(name), CATALOGUE[name]
    repository = f"{site.registry.host}/curated/{name}"
    first, seconds = build(site, f"mlenv:{name}@latest", repository)
    assert not first["cache_hit"]
    conda, wheels = locked_versions(first["packages"])
    assert wheels == {pin.name: pin.version for pin in pins_of(path)}, "the build installs exactly the wheels the file pins"
    assert {"python", "pip"} <= set(conda)
    locked = {**conda, **wheels}

    probe = run_probe(docker_engine, first["image_ref"], entry["imports"])
    assert probe["executable"] == "/opt/env/bin/python" and probe["python"] == locked["python"]
    for module, seen in probe["modules"].items():
        if seen["dist"] is None:
            assert seen["stdlib"], f"{module} comes from no installed distribution"
            continue
        assert seen["version"] == locked[canonicalize_name(seen["dist"])], (module, seen)
        assert same_release(seen["module_version"], seen["version"]), (module, seen)

    again, again_seconds = build(site, f"mlenv:{name}:{path.stem}", repository)  # the version @latest named: one image
    assert again["cache_hit"] and again["digest"] == first["digest"] and again["bytes_pushed"] == 0
    RESULTS[name] = {"file": f"{name}/{path.name}", "seconds": seconds, "cache_hit_seconds": again_seconds,
                     "packages": len(first["packages"]), "pushed": first["bytes_pushed"], "image": image_bytes(site, first["image_ref"]),
                     "unpacked": probe["unpacked"], "registry": folder_bytes(site.registry.root), "cache": folder_bytes(site.work / "cache"),
                     "versions": {m: s["module_version"] or s["version"] for m, s in probe["modules"].items()}}


def test_the_same_curated_version_is_the_same_digest_in_another_repository_and_store(site, tmp_path):
    """Built where the user builds it, the same everywhere: a second repository on the registry and an
    OCI layout get the digest the first repository got."""
    first, _ = build(site, "mlenv:python-3.11@latest", f"{site.registry.host}/curated/here")
    elsewhere, _ = build(site, "mlenv:python-3.11@latest", f"{site.registry.host}/team/elsewhere")
    layout, _ = build(site, "mlenv:python-3.11@latest", f"oci:{tmp_path / 'layout'}")
    assert first["digest"] == elsewhere["digest"] == layout["digest"]
    assert elsewhere["bytes_pushed"] < 100_000  # every layer mounted from the first repository: only the config is sent
    shown = run("show", f"{site.registry.host}/team/elsewhere@{first['digest']}")
    assert shown.returncode == 0 and "curated: mlenv:python-3.11:1" in shown.stdout, shown.stdout + shown.stderr


def test_a_name_beside_the_reference_makes_it_a_version_of_that_name(site, tmp_path):
    env = tmp_path / "env.yml"
    env.write_text("name: py\ncurated: mlenv:python-3.11@latest\n")
    built, _ = build(site, str(env), f"{site.registry.host}/team/named")
    assert (built["version"], built["labels"]) == ("1", ["latest"])


def test_figures():
    """Seconds and sizes per environment (pytest -s prints them); meaningful after the whole file ran."""
    if len(RESULTS) < len(CATALOGUE):
        pytest.fail(f"run the whole file for the figures ({len(RESULTS)} of {len(CATALOGUE)} environments built)")
    mb = 1e6
    lines = ["curated environments: cold build, cache hit, packages, pushed / stored / unpacked MB, registry and cache MB after it"]
    for name, r in sorted(RESULTS.items()):
        lines.append(f"  {r['file']}: {r['seconds']:.1f} s, hit {r['cache_hit_seconds']:.1f} s, {r['packages']} packages, "
                     f"{r['pushed'] / mb:.0f} / {r['image'] / mb:.0f} / {r['unpacked'] / mb:.0f} MB, "
                     f"registry {r['registry'] / mb:.0f} MB, cache {r['cache'] / mb:.0f} MB; {r['versions']}")
    print("\n" + "\n".join(lines))
