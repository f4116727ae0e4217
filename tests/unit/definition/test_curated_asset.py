"""Azure ML curated asset folders: the fields filled from asset.yaml / environment.yaml, and the
release templates meaning "the newest at the first build": unpinned packages, the `latest` tag."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlenv.definition.curated_asset import write_rendered
from mlenv.definition.load import from_mapping, load_file
from mlenv.definition.rules import findings
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.identity.hashing import definition_hash
from tests import paths

ASSETS = paths.DEFINITIONS / "azureml-asset"


def test_an_asset_folder_is_its_build_context_with_the_fields_filled_in():
    spec = load_file(ASSETS / "boosted-trees")
    assert (spec.name, spec.version, spec.source) == ("boosted-trees", "", "an Azure ML asset")  # version: auto
    assert spec.tags["OS"] == "Ubuntu24.04" and spec.description.startswith("Gradient-boosted trees")
    assert Path(spec.build.path) == (ASSETS / "boosted-trees" / "context").resolve() and spec.build.dockerfile_path == "Dockerfile"
    assert spec.build.templates.names == ("Dockerfile", "conda_dependencies.yaml")
    assert spec.build.dockerfile_text.startswith("FROM mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest\n")
    by_spec = load_file(ASSETS / "boosted-trees" / "spec.yaml")
    assert definition_hash(by_spec) == definition_hash(spec) and [w.headline for w in by_spec.notes] == [w.headline for w in spec.notes]


def test_latest_pypi_version_is_an_unpinned_requirement_warned_about_with_its_lock():
    spec = load_file(ASSETS / "boosted-trees")
    assert [str(r) for r in spec.build.templates.requirements] == ["six", "tqdm[notebook]"]
    conda = dict(spec.build.templates.files)["conda_dependencies.yaml"]
    assert "  - six\n  - tqdm[notebook]\n  - requests~=2.32.3\n" in conda and "{{" not in conda
    warnings = [w.headline for w in findings(spec, {"six": "1.17.0"}).warnings]
    assert ("pip.six: unpinned (six): it would lock to six==1.17.0 today. Fix: pin it (six==1.17.0) so a rebuild elsewhere gets the same version") in warnings
    assert any(w.startswith("pip.tqdm: unpinned (tqdm[notebook]): it locks to the newest matching version at the first build") for w in warnings)
    assert not any("requests" in w or "idna" in w for w in warnings)  # the context's own lines are the Dockerfile's business


def test_latest_image_tag_is_the_latest_tag_with_the_mutable_tag_warning():
    spec = load_file(ASSETS / "boosted-trees")
    (tag,) = [w for w in findings(spec).warnings if "mutable tag" in w.problem]
    assert tag.headline == ("build.dockerfile_path: mutable tag 'latest' (from {{latest-image-tag}} in context/Dockerfile): the base can change "
                            "under the same definition (got 'mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest'). "
                            "Fix: pin the digest: mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04@sha256:... (a tag names no fixed image)")


def test_a_tag_pattern_a_repeated_package_and_pre_releases():
    spec = load_file(ASSETS / "torch-pip")
    assert spec.build.dockerfile_text.splitlines()[0] == "FROM mcr.microsoft.com/aifx/acpt/stable-ubuntu2204-cu121-py311-torch240:latest"
    assert [str(r) for r in spec.build.templates.requirements] == ["six", "tqdm"]  # six is listed twice: one requirement
    assert dict(spec.build.templates.files)["requirements.txt"] == "six\nsix\ntqdm\nrequests~=2.32.3\nidna\n"
    shown = [w.headline for w in findings(spec).warnings]
    assert any("from {{latest-image-tag:biweekly\\.\\d{6}\\.\\d{1}.*}} in context/Dockerfile, whose newest matching tag is not looked up" in w for w in shown)
    assert any(w.startswith("pip.tqdm: {{latest-pypi-version:pre}} in context/requirements.txt asks for pre-releases") for w in shown)


def test_the_hash_covers_the_context_as_written_and_which_files_are_filled_in(tmp_path):
    spec = load_file(ASSETS / "boosted-trees")
    canonical = canonical_definition(spec)
    assert canonical["build"]["templates"] == ["Dockerfile", "conda_dependencies.yaml"]
    bare = from_mapping({"build": {"path": str(ASSETS / "boosted-trees" / "context")}})
    assert canonical_definition(bare)["build"] == {"dockerfile_path": "Dockerfile", "digest": spec.build.digest}  # no templates key: old hashes stay
    assert definition_hash(bare) != definition_hash(spec)
    copy = shutil.copytree(ASSETS / "boosted-trees", tmp_path / "asset")
    assert definition_hash(load_file(copy)) == definition_hash(spec)  # where the folder sits does not matter
    (copy / "context" / "conda_dependencies.yaml").write_text((copy / "context" / "conda_dependencies.yaml").read_text().replace("idna", "idna==3.10"))
    assert definition_hash(load_file(copy)) != definition_hash(spec)


def test_the_input_form_keeps_the_templates_for_the_provider(monkeypatch):
    """What the SDK sends the provider (to_mapping) loads back to the same definition, templates filled."""
    spec = load_file(ASSETS / "torch-pip")
    mapping = to_mapping(spec)
    assert mapping["build"]["template_files"] == ["Dockerfile", "requirements.txt"]
    again = from_mapping(mapping)
    assert definition_hash(again) == definition_hash(spec)
    assert (again.build.templates.files, again.build.templates.requirements) == (spec.build.templates.files, spec.build.templates.requirements)
    assert [w.headline for w in again.notes] == [w.headline for w in spec.notes]


def test_the_build_sees_a_copy_with_the_templates_filled_in(tmp_path):
    spec = load_file(ASSETS / "torch-pip")
    target = write_rendered(spec.build, tmp_path / "context")
    assert (target / "Dockerfile").read_text() == spec.build.dockerfile_text
    assert "{{" not in (target / "requirements.txt").read_text()
    assert "{{latest-image-tag" in (ASSETS / "torch-pip" / "context" / "Dockerfile").read_text()  # the asset itself is untouched


def test_an_older_asset_with_image_and_conda_file_templates(tmp_path):
    (tmp_path / "asset.yaml").write_text("name: tabular\nversion: '7'\ntype: environment\nspec: spec.yaml\n")
    (tmp_path / "spec.yaml").write_text('name: "{{asset.name}}"\nversion: "{{asset.version}}"\n'
                                        "image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:{{latest-image-tag}}\nconda_file: conda_dependencies.yaml\n")
    (tmp_path / "conda_dependencies.yaml").write_text("channels: [conda-forge]\ndependencies:\n- python=3.11\n- pip:\n  - six=={{latest-pypi-version}}\n  - tqdm==4.66.5\n")
    spec = load_file(tmp_path)
    assert (spec.name, spec.version) == ("tabular", "7")
    assert spec.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert sorted(str(r) for r in spec.pip.requirements) == ["six", "tqdm==4.66.5"]
    shown = [w.headline for w in findings(spec).warnings]
    assert sum("mutable tag 'latest'" in w for w in shown) == 1 and any(w.startswith("pip.six: unpinned (six)") for w in shown)


def test_a_template_without_a_value_is_an_error_naming_the_field(tmp_path):
    (tmp_path / "asset.yaml").write_text("name: x\nversion: auto\ntype: environment\n")
    (tmp_path / "spec.yaml").write_text('name: "{{asset.name}}"\nimage: "registry.example/{{asset.registry}}/python:3.11"\n')
    with pytest.raises(SpecError) as caught:
        load_file(tmp_path)
    assert caught.value.headline.startswith("image: the asset template {{asset.registry}} has no value here")


def test_an_asset_that_is_not_an_environment_is_refused(tmp_path):
    (tmp_path / "asset.yaml").write_text("name: x\nversion: auto\ntype: component\n")
    (tmp_path / "spec.yaml").write_text("name: x\n")
    with pytest.raises(SpecError, match="asset.yaml.type: this asset is not an environment"):
        load_file(tmp_path)


def test_other_braces_in_our_yaml_are_left_as_written(tmp_path):
    """Only the asset templates make a spec.yaml an asset; `{{...}}` of another tool stays a value."""
    (tmp_path / "env.yml").write_text('image: registry.example/base/python:3.11\nvariables: {GREETING: "{{ hello }}"}\n')
    spec = load_file(tmp_path / "env.yml")
    assert spec.source == "" and spec.variables == {"GREETING": "{{ hello }}"}
