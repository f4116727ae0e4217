"""The curated environments' data (provider/mlenv/definition/curated_envs/): the catalogue and its
version files agree, each version file validates as it is and locks every wheel with one sha256, and
the wheel of this project carries them all. That each one builds and imports its packages is
tests/integration/test_curated_builds.py."""

from __future__ import annotations

import fnmatch
import tomllib

import pytest
import yaml

from mlenv.definition.load import load_file
from mlenv.definition.rules import findings
from testbed.curated_index import curated_folder, pins_of, version_files
from tests import paths

CATALOGUE = yaml.safe_load((curated_folder() / "catalogue.yml").read_text())
FILES = version_files()


def test_the_catalogue_and_its_version_files_agree():
    """Each entry has its folder with a version 1, each folder an entry; the fields are as documented."""
    folders = {path.name for path in curated_folder().iterdir() if path.is_dir()}
    assert folders == set(CATALOGUE) and len(FILES) >= len(CATALOGUE)
    for name, entry in CATALOGUE.items():
        assert set(entry) == {"summary", "imports", "azureml"}, name
        assert isinstance(entry["summary"], str) and "\n" not in entry["summary"].strip(), name
        assert entry["imports"] and all(isinstance(module, str) for module in entry["imports"]), name
        assert (curated_folder() / name / "1.yml").is_file(), name
        assert all(path.stem.isdigit() for path in (curated_folder() / name).glob("*.yml")), name
    stood_for = [azureml.lower() for entry in CATALOGUE.values() for azureml in entry["azureml"]]
    assert len(stood_for) == len(set(stood_for)), "an Azure ML name stands for one curated environment"


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_each_version_file_validates_as_it_is_and_pins_every_wheel(path):
    spec = load_file(path)
    found = findings(spec)
    assert not found.errors, [str(e) for e in found.errors]
    assert [w.where for w in found.warnings] == ["image"], [str(w) for w in found.warnings]  # the base's tag, bookworm-slim
    assert spec.description and not spec.name  # the catalogue names it; a version's name has no dot
    assert spec.image == "docker.io/library/debian:bookworm-slim" and spec.conda.channels == ("conda-forge",)
    assert spec.python.version == "3.11.2" and spec.conda.packages  # a conda package beside python and pip: conda builds it
    assert not spec.pip.index_url and not spec.pip.extra_index_urls and not spec.pip.find_links  # the machine's index decides
    assert len(pins_of(path)) == len(spec.pip.requirements)  # each pinned with == and one sha256 (pins_of refuses less)


def test_the_wheel_carries_every_curated_file():
    """pyproject's package-data names each file, so an installed mlenv finds the curated environments."""
    pyproject = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["mlenv.definition"]
    package = curated_folder().parent
    for path in sorted(curated_folder().rglob("*")):
        if path.is_file():
            parts = path.relative_to(package).parts
            assert any(len(parts) == len(g.split("/")) and all(map(fnmatch.fnmatchcase, parts, g.split("/"))) for g in globs), path
