"""One definition, both builders, a real dockerd: the installed packages' metadata is the same, and
says nothing about where the build ran (no `file:///tmp/…` in `pip freeze`)."""

from __future__ import annotations

import json

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration

# For each locked package: its INSTALLER, which of pip's extra files it has, and what RECORD says of them.
METADATA = """
import json, sys
from importlib.metadata import distributions
found = {}
for dist in distributions(path=[p for p in sys.path if p.startswith('/opt/env/')]):
    files = {name: dist.read_text(name) for name in ('INSTALLER', 'REQUESTED', 'direct_url.json')}
    files['RECORD'] = sorted(str(f).rsplit('/', 1)[1] + ',' + str(f.hash and f.hash.value) for f in dist.files
                             if str(f).endswith(('.dist-info/INSTALLER', '.dist-info/REQUESTED')))
    found[dist.metadata['Name'].lower()] = files
print(json.dumps(found, sort_keys=True))
"""


def run(docker_engine, image_ref: str, *command: str) -> str:
    docker_engine.images.pull(image_ref)
    return docker_engine.containers.run(image_ref, list(command), remove=True).decode().strip()


def test_both_builders_write_the_same_installer_and_pip_freeze_names_versions_only(registry, base_image, index_settings, docker_engine):
    definition = {"image": base_image, "pip": ["requests", "six==1.16.0"]}
    daemonless = build(from_mapping(definition), f"{registry.host}/envs/metadata-oci", index=index_settings)
    docker = build(from_mapping({**definition, "builder": "docker"}), f"{registry.host}/envs/metadata-docker", index=index_settings)
    assert docker.packages == daemonless.packages and "six==1.16.0" in docker.packages

    frozen = run(docker_engine, docker.image_ref, "pip", "freeze", "--all").splitlines()
    locked = [line for line in frozen if line.split("==")[0] != "setuptools"]  # the venv's own; pip is locked (in packages)
    assert sorted(locked, key=str.lower) == sorted(docker.packages, key=str.lower), frozen  # name==version lines only
    assert not [line for line in frozen if "file://" in line or " @ " in line], frozen

    ours, engines = (json.loads(run(docker_engine, result.image_ref, "python", "-c", METADATA)) for result in (daemonless, docker))
    names = {pin.split("==")[0].lower() for pin in docker.packages}
    assert {name: files for name, files in engines.items() if name in names} == ours  # same files, same INSTALLER
    assert {files["INSTALLER"] for files in ours.values()} == {"mlenv\n"}
    assert all(files["REQUESTED"] is None and files["direct_url.json"] is None for files in ours.values())
    # and one time, derived from the same wheels, not the engine's clock (it built seconds later)
    created = {docker_engine.images.get(result.image_ref).attrs["Created"] for result in (daemonless, docker)}
    assert len(created) == 1 and not created.pop().startswith("1970"), created
