"""Every definition source turned into the one model, from files shaped like what people commit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.hashing import definition_hash
from mlenv.definition.load import from_mapping, load_file
from tests import paths

DEFINITIONS = paths.DEFINITIONS
EQUIVALENT = DEFINITIONS / "equivalent"


def test_azureml_v2_yaml_with_curated_style_conda_file():
    spec = load_file(DEFINITIONS / "azureml-v2" / "environment.yml")
    assert (spec.name, spec.version, spec.tags["framework"]) == ("sklearn-training", "12", "sklearn")
    assert spec.inference_config["scoring_route"] == {"port": 5001, "path": "/score"}
    assert spec.image == "registry.example/azureml/openmpi4.1.0-ubuntu22.04:20240506.v1"
    assert spec.conda.channels == ("anaconda", "conda-forge")
    assert spec.python.version == "3.10.14"
    assert spec.conda.packages == ("scikit-learn 1.5.1.*", "pandas >=2.1,<2.3")  # canonical match specs; pip dropped
    assert sorted(r.name for r in spec.pip.requirements) == ["azureml-mlflow", "inference-schema", "mlflow"]
    assert spec.pip.extra_index_urls == ("https://packages.example/simple",)
    canonical = canonical_definition(spec)
    assert "name" not in canonical and "tags" not in canonical and "inference_config" not in canonical
    assert canonical["pip_index"] == {"extra_index_urls": ["https://packages.example/simple"]}


def test_azureml_v1_json_sections_in_camel_case():
    spec = load_file(DEFINITIONS / "azureml-v1" / "azureml_environment.json")
    assert spec.image == "registry.example/base/python:3.11-bookworm"  # baseImageRegistry.address prefixed
    assert spec.base_registry.username == "puller" and spec.base_registry.password is None
    assert spec.python.interpreter_path == "/opt/env/bin/python" and spec.python.version == "3.11"
    assert [str(r) for r in spec.pip.requirements] == ["six==1.16.0", "tqdm==4.66.5"]
    assert spec.variables == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert spec.spark.precache_packages is True and spec.platform == "linux/amd64"


def test_docker_build_context_definition():
    spec = load_file(DEFINITIONS / "docker-build" / "environment.yml")
    assert spec.build.dockerfile_path == "docker/Dockerfile"
    assert spec.build.digest.startswith("sha256:") and spec.image is None
    assert canonical_definition(spec)["build"] == {"dockerfile_path": "docker/Dockerfile", "digest": spec.build.digest}


def test_build_context_kept_file_changes_hash_ignored_file_does_not(tmp_path):
    shutil.copytree(DEFINITIONS / "docker-build", tmp_path / "def")
    path = tmp_path / "def" / "environment.yml"
    before = definition_hash(load_file(path))
    (tmp_path / "def" / "context" / "run.log").write_text("ignored by .dockerignore\n")
    assert definition_hash(load_file(path)) == before
    (tmp_path / "def" / "context" / "src" / "train.py").write_text("def main():\n    return 43\n")
    assert definition_hash(load_file(path)) != before


def test_python_keyword_sections_match_the_yaml_form():
    from pulumi_mlenv import DockerSection, PythonSection, RegistrySection
    from pulumi_mlenv.sections import section_mapping

    spec = from_mapping({
        "python": section_mapping(PythonSection(version="3.11", conda_dependencies={"channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": ["six==1.16.0"]}]})),
        "docker": section_mapping(DockerSection(base_image="base/python:3.11", base_image_registry=RegistrySection(address="registry.example", username="u", password="p"))),
        "environment_variables": {"A": "1"},
    })
    yaml_spec = from_mapping({"image": "registry.example/base/python:3.11", "python": {"version": "3.11"}, "pip": ["six==1.16.0"], "variables": {"A": 1}})
    assert definition_hash(spec) == definition_hash(yaml_spec)
    assert spec.base_registry.password == "p"  # from a Python argument (a secret), not a file


def test_pip_list_requirements_file_and_conda_pip_section_hash_the_same():
    hashes = {name: definition_hash(load_file(EQUIVALENT / name)) for name in ("list.yml", "reqfile.yml", "conda.yml")}
    assert len(set(hashes.values())) == 1, hashes


def test_normalized_mapping_round_trips_to_the_same_hash():
    for path in [*EQUIVALENT.glob("*.yml"), DEFINITIONS / "azureml-v2" / "environment.yml", DEFINITIONS / "azureml-v1" / "azureml_environment.json"]:
        if path.name == "conda-env.yml":
            continue
        spec = load_file(path)
        again = from_mapping(to_mapping(spec))
        assert definition_hash(again) == definition_hash(spec), path.name


def test_from_dockerfile_text_and_path(tmp_path):
    text = "FROM registry.example/base/python:3.11\nRUN pip install six\n"
    (tmp_path / "Dockerfile").write_text(text)
    assert from_mapping({"dockerfile": text}).dockerfile == text
    assert from_mapping({"dockerfile": "Dockerfile"}, base_dir=tmp_path).dockerfile == text
    with pytest.raises(SpecError) as caught:
        from_mapping({"dockerfile": "Missing.Dockerfile"}, base_dir=tmp_path)
    assert caught.value.headline == "dockerfile: is neither Dockerfile text nor a readable file (got 'Missing.Dockerfile'). Fix: give the Dockerfile text, or a path relative to the definition file"


def test_curated_reference_syntax_and_errors():
    from mlenv.definition.curated import parse_curated
    from mlenv.definition.rules import findings

    assert parse_curated("mlenv:sklearn-1.5@latest").label == "latest"
    assert parse_curated("mlenv:sklearn-1.5:3").version == "3"
    bad = {
        "mlenv:": "curated: malformed curated environment reference (got 'mlenv:'). Fix: write mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest (lowercase name)",
        "mlenv:torch@stable": "curated: unknown label '@stable' (got 'mlenv:torch@stable'). Fix: use @latest, or pin a version with mlenv:torch:<version>",
        "azureml:torch@latest": "curated: not a curated environment reference (got 'azureml:torch@latest'). Fix: write mlenv:<name>@latest or mlenv:<name>:<version>, e.g. mlenv:sklearn-1.5@latest",
    }
    for value, headline in bad.items():
        with pytest.raises(SpecError) as caught:
            from_mapping({"curated": value})
        assert caught.value.headline == headline
    errors = findings(from_mapping({"curated": "mlenv:torch@latest"})).errors
    assert [e.headline for e in errors] == ["curated: no curated environment named 'torch' (got 'mlenv:torch@latest'). Fix: no curated environments ship with this release yet: define the environment with image and pip"]


def test_existing_conda_environment_becomes_the_model(tmp_path):
    import json

    from mlenv.definition.conda_prefix import read_existing_environment

    prefix = tmp_path / "envs" / "train"
    (prefix / "conda-meta").mkdir(parents=True)
    for name, version, build in (("python", "3.11.7", "hab00c5b_1_cpython"), ("numpy", "1.26.4", "py311h64a7726_0"), ("pip", "24.0", "pyhd8ed1ab_0")):
        record = {"name": name, "version": version, "build": build, "channel": "https://conda.anaconda.org/conda-forge/linux-64",
                  "subdir": "linux-64", "fn": f"{name}-{version}-{build}.conda", "files": [], "depends": []}
        (prefix / "conda-meta" / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    dist = prefix / "lib" / "python3.11" / "site-packages" / "six-1.16.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")
    (dist / "INSTALLER").write_text("pip\n")
    conda = read_existing_environment(str(prefix))
    assert conda.channels == ("conda-forge",) and conda.python_specs and conda.python_specs[0].endswith("3.11.7")
    assert any("numpy" in p and "1.26.4" in p for p in conda.packages)
    assert list(conda.pip_lines) == ["six==1.16.0"]


def test_one_requirements_file_reached_from_pip_and_the_conda_pip_section(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    (tmp_path / "conda.yml").write_text("channels: [conda-forge]\ndependencies: [python=3.11, {pip: [-r requirements.txt]}]\n")
    spec = from_mapping({"image": "registry.example/base/python:3.11", "pip": "requirements.txt", "conda_file": "conda.yml"}, base_dir=tmp_path)
    assert [str(r) for r in spec.pip.requirements] == ["six==1.16.0"]
    (tmp_path / "conda.yml").write_text("channels: [conda-forge]\ndependencies: [python=3.11, {pip: [six==1.17.0]}]\n")
    with pytest.raises(SpecError) as caught:
        from_mapping({"image": "registry.example/base/python:3.11", "pip": "requirements.txt", "conda_file": "conda.yml"}, base_dir=tmp_path)
    assert caught.value.headline == "pip: six is listed twice ('six==1.16.0' and 'six==1.17.0'). Fix: merge them into one requirement"
