"""Hash rules across every definition source (docs/HASHING.md): golden hashes pin the rules, property
tests show that order without meaning never changes the hash and meaning always does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mlenv.identity.hashing import definition_hash
from mlenv.definition.load import from_mapping, load_file
from tests import paths

DEFINITIONS = paths.DEFINITIONS
BASE = "registry.example/base/python:3.11-bookworm"
CONDA_PACKAGES = ["numpy>=1.26,<2", "scipy=1.13", "libgomp", "conda-forge::pandas 2.2.*"]


def conda(channels=("conda-forge", "nodefaults"), packages=CONDA_PACKAGES, python="python=3.11"):
    return from_mapping({"image": BASE, "conda": {"channels": list(channels), "dependencies": [python, *packages]}})


# Pinned on purpose: a change here means every existing image of that kind rebuilds. Change the
# rules and these together, deliberately, and say so in docs/HASHING.md.
GOLDEN = {
    "conda": (lambda: conda(packages=["numpy>=1.26,<2", "scipy=1.13"]), "103e897a3f0d80f03c5f23059a8897a4c4a878814062064a80dc0b1a0f320340"),
    "dockerfile (CRLF)": (lambda: from_mapping({"dockerfile": "FROM registry.example/base/python:3.11\r\nRUN pip install six==1.16.0\r\n"}),
                          "1581bd8c0ab77ff7967b102989d6d016540528b0f4492ad75c83a9bf9956e937"),
    "build context": (lambda: load_file(DEFINITIONS / "docker-build" / "environment.yml"), "32cfcaa75c878075c696228a9b8ae62a6758a8ad2e76bb7ea6e0d47f992afcb1"),
    "requirements with includes, hashes, index, private wheel": (
        lambda: from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=DEFINITIONS / "requirements"),
        "d5d1a3ae263b442b39fd26acd79ee0c5e2d47713e2e5b480d73e7bc2960c3cde"),
    "azure ml v2": (lambda: load_file(DEFINITIONS / "azureml-v2" / "environment.yml"), "1047719cf195d7b74b67de84a9633fbb36987c40045eb79a06bc285100bf75d6"),
    "docker steps and spark": (lambda: from_mapping({"image": BASE, "docker": {"steps": ["RUN apt-get install -y libgomp1", "ENV A=1"]},
                                                     "spark": {"repositories": ["https://maven.example/repo"],
                                                               "packages": [{"group": "com.example", "artifact": "features_2.12", "version": "1.0"}]}}),
                               "1043f29138e08ee7659f9cfa0cd18526d7d921cf057e843f0c4b6f2741ef6fad"),
}


@pytest.mark.parametrize("kind", GOLDEN)
def test_golden_hashes(kind):
    make, pinned = GOLDEN[kind]
    assert definition_hash(make()) == pinned


@given(st.permutations(CONDA_PACKAGES))
def test_conda_package_order_never_changes_the_hash(order):
    assert definition_hash(conda(packages=list(order))) == definition_hash(conda())


def test_channel_order_is_priority_and_changes_the_hash():
    assert definition_hash(conda(channels=("nodefaults", "conda-forge"))) != definition_hash(conda())


def test_docker_step_order_changes_the_hash():
    steps = lambda *s: from_mapping({"image": BASE, "docker": {"steps": list(s)}})  # noqa: E731
    assert definition_hash(steps("RUN a", "RUN b")) != definition_hash(steps("RUN b", "RUN a"))


@pytest.mark.parametrize("change", [
    {"python": "python=3.12"},
    {"packages": ["numpy>=1.26,<2", "scipy=1.14", "libgomp", "conda-forge::pandas 2.2.*"]},
    {"packages": CONDA_PACKAGES[:-1]},
    {"channels": ("conda-forge",)},
])
def test_any_semantic_conda_change_changes_the_hash(change):
    assert definition_hash(conda(**change)) != definition_hash(conda())


def test_metadata_credentials_and_paths_stay_out(tmp_path):
    shutil.copytree(DEFINITIONS / "requirements", tmp_path / "moved")
    here = from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=DEFINITIONS / "requirements")
    moved = from_mapping({"image": BASE, "pip": "requirements.txt", "name": "x", "version": "9", "tags": {"a": "b"},
                          "docker": {"base_image_registry": {"username": "u", "password": "p"}}}, base_dir=tmp_path / "moved")
    assert definition_hash(here) == definition_hash(moved)


def test_a_private_wheel_counts_by_content(tmp_path):
    from testbed.wheelmaker import make_wheel

    def spec_with(content):
        folder = tmp_path / str(abs(hash(content)))
        folder.mkdir()
        wheel = make_wheel(folder, "acme", "1.0", {"acme/__init__.py": content})
        return from_mapping({"image": BASE, "pip": [str(wheel)]})

    assert definition_hash(spec_with("A = 1\n")) != definition_hash(spec_with("A = 2\n"))


def test_a_requirements_include_change_changes_the_hash(tmp_path):
    shutil.copytree(DEFINITIONS / "requirements", tmp_path / "r")
    before = definition_hash(from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=tmp_path / "r"))
    base = tmp_path / "r" / "base.txt"
    base.write_text(base.read_text().replace("pandas==2.2.2", "pandas==2.2.3"))
    assert definition_hash(from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=tmp_path / "r")) != before


@settings(max_examples=50, deadline=None)
@given(st.permutations(["numpy==1.26.4", "requests>=2.31", "six==1.16.0"]), st.booleans())
def test_the_same_packages_from_any_source_hash_the_same(order, through_conda):
    listed = from_mapping({"image": BASE, "python": {"version": "3.11"}, "pip": ["numpy==1.26.4", "requests>=2.31", "six==1.16.0"]})
    if through_conda:
        other = from_mapping({"image": BASE, "conda": {"channels": ["conda-forge"], "dependencies": ["python=3.11", "pip", {"pip": list(order)}]}})
    else:
        other = from_mapping({"image": BASE, "python": {"version": "3.11"}, "pip": list(order)})
    assert definition_hash(other) == definition_hash(listed)


def test_pip_list_requirements_file_and_conda_file_give_one_hash_when_they_name_the_same_python(tmp_path):
    """docs/HASHING.md, as written: `pip: [a, b]`, `pip: requirements.txt` and a conda file whose only
    packages are `python=3.11`, `pip` and a `pip:` section give one hash when they name the same Python
    (`python: {version: "3.11"}` in the two YAML forms); without it, the YAML forms are another definition."""
    (tmp_path / "requirements.txt").write_text("six==1.16.0\ntqdm==4.66.5\n")
    (tmp_path / "conda.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip: [six==1.16.0, tqdm==4.66.5]\n")
    python = 'python: {version: "3.11"}\n'
    forms = {"list.yml": f"image: {BASE}\n{python}pip: [six==1.16.0, tqdm==4.66.5]\n",
             "reqfile.yml": f"image: {BASE}\n{python}pip: requirements.txt\n",
             "conda-file.yml": f"image: {BASE}\nconda_file: conda.yml\n"}
    hashes = {}
    for name, text in forms.items():
        (tmp_path / name).write_text(text)
        hashes[name] = definition_hash(load_file(tmp_path / name))
    assert len(set(hashes.values())) == 1, hashes
    for name in ("list.yml", "reqfile.yml"):
        (tmp_path / name).write_text(forms[name].replace(python, ""))
        assert definition_hash(load_file(tmp_path / name)) != hashes["conda-file.yml"]  # the conda form adds its Python
