"""Bare files are definitions: a conda environment file and a requirements.txt, told apart by
content, on the base image from --image / $MLENV_BASE_IMAGE; the same environment as our YAML
pointing at the file, with one hash."""

from __future__ import annotations

import shutil

import pytest

from mlenv.definition.load import from_mapping, load_file
from mlenv.definition.rules import findings
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.hashing import definition_hash
from tests import paths

BASE = "registry.example/base/python:3.11-bookworm"
EQUIVALENT = paths.DEFINITIONS / "equivalent"
NO_IMAGE = "pass --image IMAGE (e.g. python:3.11-slim) or set $MLENV_BASE_IMAGE; in Pulumi, give image=..."


def test_a_bare_conda_file_is_the_environment_our_yaml_makes_of_it():
    spec = load_file(EQUIVALENT / "conda-env.yml", image=BASE)
    assert spec.image == BASE and spec.python.version == "3.11" and spec.source == "a conda environment file"
    assert sorted(str(r) for r in spec.pip.requirements) == ["numpy==1.26.4", "requests>=2.31"]
    ours = from_mapping({"image": BASE, "conda_file": "conda-env.yml"}, base_dir=EQUIVALENT, from_file=True)
    assert definition_hash(spec) == definition_hash(ours)


def test_a_bare_requirements_file_is_the_environment_our_yaml_makes_of_it():
    spec = load_file(EQUIVALENT / "requirements.txt", image=BASE)
    assert spec.source == "a requirements file" and [str(r) for r in spec.pip.requirements] == ["Requests>=2.31", "NumPy==1.26.04"]
    ours = from_mapping({"image": BASE, "pip": "requirements.txt"}, base_dir=EQUIVALENT, from_file=True)
    assert definition_hash(spec) == definition_hash(ours)


def test_told_apart_by_content_not_by_name(tmp_path):
    """A conda file named deps.txt and a requirements file named environment.yml read as what they hold."""
    shutil.copy(EQUIVALENT / "conda-env.yml", tmp_path / "deps.txt")
    shutil.copy(EQUIVALENT / "requirements.txt", tmp_path / "environment.yml")
    assert load_file(tmp_path / "deps.txt", image=BASE).source == "a conda environment file"
    assert load_file(tmp_path / "environment.yml", image=BASE).source == "a requirements file"


def test_requirements_with_includes_options_and_markers_are_a_requirements_file(tmp_path):
    (tmp_path / "base.txt").write_text("six==1.16.0\n")
    (tmp_path / "reqs").write_text("# pinned by pip-compile\n-r base.txt\n--extra-index-url https://packages.example/simple\n"
                                   "tqdm==4.66.5 ; python_version >= \"3.8\"\nrequests[socks]>=2.31 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    with pytest.raises(SpecError, match="--hash needs an exact version"):  # read as pip reads it, so pip's rules apply
        load_file(tmp_path / "reqs", image=BASE)
    (tmp_path / "reqs").write_text("# pinned by pip-compile\n-r base.txt\n--extra-index-url https://packages.example/simple\n"
                                   "tqdm==4.66.5 ; python_version >= \"3.8\"\n")
    spec = load_file(tmp_path / "reqs", image=BASE)
    assert sorted(r.name for r in spec.pip.requirements) == ["six", "tqdm"] and spec.pip.extra_index_urls == ("https://packages.example/simple",)


def test_without_a_base_image_validate_names_both_ways_to_give_one(monkeypatch):
    monkeypatch.delenv("MLENV_BASE_IMAGE", raising=False)
    for path, source in ((EQUIVALENT / "conda-env.yml", "a conda environment file"), (EQUIVALENT / "requirements.txt", "a requirements file")):
        spec = load_file(path)  # loading (diff) needs no image; validate, hash, build and preview do
        assert spec.image is None
        (error,) = findings(spec).errors
        assert error.headline == f"image: {source} names no base image. Fix: {NO_IMAGE}"


def test_a_definition_with_its_own_base_keeps_it():
    spec = load_file(EQUIVALENT / "conda.yml", image="python:3.11-slim")
    assert spec.image == BASE


def test_the_fallback_image_is_checked_as_an_image_field():
    with pytest.raises(SpecError, match="image: not an image reference"):
        load_file(EQUIVALENT / "requirements.txt", image="Not An Image!")


def test_a_conda_file_error_names_the_file(tmp_path):
    (tmp_path / "environment.yml").write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy===\n")
    with pytest.raises(SpecError) as caught:
        load_file(tmp_path / "environment.yml", image=BASE)
    assert caught.value.where == "conda_file (environment.yml).dependencies[1]"
    (tmp_path / "environment.yml").write_text("channels: [conda-forge]\ndependencies: [python=3.11]\nchanels: [x]\n")
    with pytest.raises(SpecError, match=r"conda_file \(environment.yml\).chanels: unknown field"):
        load_file(tmp_path / "environment.yml", image=BASE)


@pytest.mark.parametrize("text, message", [
    ("", r"holds no definition \(it is empty or only comments\)"),
    ("# nothing here\n\n", "holds no definition"),
    ("image: [unclosed\npip: x\n", "is not valid YAML at line"),
    ("- six\n- tqdm\n", "must hold a mapping of fields, not a list"),
])
def test_files_that_are_neither_say_so(tmp_path, text, message):
    (tmp_path / "env").write_text(text)
    with pytest.raises(SpecError, match=message):
        load_file(tmp_path / "env", image=BASE)


def test_a_folder_without_a_definition_says_what_it_may_hold(tmp_path):
    with pytest.raises(SpecError, match="a folder without a definition mlenv knows") as caught:
        load_file(tmp_path)
    assert "MLmodel" in caught.value.fix and "asset.yaml" in caught.value.fix and "azureml_environment.json" in caught.value.fix
    assert "python_env.yaml" in caught.value.fix


def test_our_yaml_with_name_and_variables_only_is_still_ours(tmp_path):
    (tmp_path / "env.yml").write_text(f"name: x\nimage: {BASE}\nvariables: {{A: '1'}}\n")
    spec = load_file(tmp_path / "env.yml")
    assert spec.source == "" and spec.variables == {"A": "1"}
