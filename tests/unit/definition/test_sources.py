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


AZUREML_V1 = DEFINITIONS / "azureml-v1"


def test_azureml_v1_saved_directory_every_standard_key():
    """azureml_environment.json as Environment.save_to_directory writes it (all keys, the SDK's defaults:
    interpreterPath "python", databricks, r, assetId…), with its conda_dependencies.yml beside it."""
    spec = load_file(AZUREML_V1 / "azureml_environment.json")
    assert (spec.name, spec.version) == ("legacy-train", "3")
    assert spec.image == "registry.example/azureml/openmpi4.1.0-ubuntu22.04:20240506.v1"
    assert spec.python.version == "3.11" and spec.python.interpreter_path is None  # "python": the SDK's default, as if unset
    assert [str(r) for r in spec.pip.requirements] == ["six==1.16.0", "tqdm==4.66.5"]  # from conda_dependencies.yml
    assert spec.variables == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert spec.spark.precache_packages is True and spec.platform == "linux/amd64"
    assert spec.notes == ()  # every key at the SDK's default: nothing to say
    assert spec.python.pip == "==23.3.1.*"  # the file's pip=23.3.1: the venv's pip
    same = from_mapping({"image": spec.image, "python": {"version": "3.11", "pip": "23.3.1.*"}, "pip": ["six==1.16.0", "tqdm==4.66.5"],
                         "variables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}})
    assert definition_hash(spec) == definition_hash(same)


def test_azureml_v1_json_sections_in_camel_case_with_inline_conda():
    spec = load_file(AZUREML_V1 / "api" / "azureml_environment.json")
    assert spec.image == "registry.example/base/python:3.11-bookworm"  # baseImageRegistry.address prefixed
    assert spec.base_registry.username is None and spec.base_registry.password is None
    assert spec.python.interpreter_path == "/opt/env/bin/python" and spec.python.version == "3.11"
    assert [str(r) for r in spec.pip.requirements] == ["six==1.16.0", "tqdm==4.66.5"]
    assert spec.variables == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"} and spec.notes == ()


def test_azureml_v1_settings_outside_the_image_are_warnings_and_leave_the_hash_alone(tmp_path):
    import json

    data = json.loads((AZUREML_V1 / "api" / "azureml_environment.json").read_text())
    before = definition_hash(from_mapping(data))
    data["docker"].update(sharedVolumes=False, shmSize="16g", arguments=["--ipc=host"], enabled=True)
    data["docker"]["baseImageRegistry"]["registryIdentity"] = {"resourceId": "/subscriptions/x/identity"}
    data["python"]["baseCondaEnvironment"] = "base"
    data.update(assetId="azureml://registries/x/environments/y/versions/1", inferencingStackVersion="latest",
                databricks={"mavenLibraries": [], "pypiLibraries": [{"package": "six"}], "rcranLibraries": [], "jarLibraries": [], "eggLibraries": []})
    spec = from_mapping(data)
    assert definition_hash(spec) == before
    assert [w.where for w in spec.notes] == ["asset_id", "inferencing_stack_version", "databricks", "python.base_conda_environment",
                                            "docker.shared_volumes", "docker.shm_size", "docker.arguments", "docker.base_image_registry.registry_identity"]
    assert all("is ignored: it does not change the image" in w.problem and w.fix for w in spec.notes)
    shm = next(w for w in spec.notes if w.where == "docker.shm_size")
    assert shm.headline == ("docker.shm_size: is ignored: it does not change the image: it is a setting of the container run, for the job that runs the image (got '16g'). "
                            "Fix: give it where the job is started (docker run --shm-size, or the job's shared-memory setting), and remove it here")
    with pytest.raises(SpecError) as caught:
        from_mapping({**data, "r": {"rVersion": "4.2"}})
    assert caught.value.headline.startswith("r: an R environment cannot be built")


def test_azureml_v1_saved_directory_reads_the_dockerfile_beside_it_and_skips_conda_when_user_managed(tmp_path):
    import json

    data = json.loads((AZUREML_V1 / "azureml_environment.json").read_text())
    data["docker"]["baseImage"] = None
    data["python"]["userManagedDependencies"] = True
    (tmp_path / "azureml_environment.json").write_text(json.dumps(data, indent=4))
    (tmp_path / "conda_dependencies.yml").write_text((AZUREML_V1 / "conda_dependencies.yml").read_text())
    (tmp_path / "BaseDockerfile").write_text("FROM registry.example/base/python:3.11\nRUN true\n")
    spec = load_file(tmp_path / "azureml_environment.json")
    assert spec.dockerfile == "FROM registry.example/base/python:3.11\nRUN true\n" and spec.image is None
    assert spec.conda is None and not spec.pip.requirements  # user-managed: the SDK ignores the conda file too


def saved_as(folder, name: str, file_name: str = "azureml_environment.json"):
    import json

    data = json.loads((AZUREML_V1 / "azureml_environment.json").read_text())
    (folder / file_name).write_text(json.dumps({**data, "name": name}, indent=4))
    (folder / "conda_dependencies.yml").write_text((AZUREML_V1 / "conda_dependencies.yml").read_text())
    return folder / file_name


@pytest.mark.parametrize("name, hint", [("AzureML-sklearn-1.5", "its counterpart here is mlenv:sklearn-1.5@latest"),
                                        ("Microsoft-base", "mlenv curated list shows the curated environments here")])
def test_a_v1_file_saved_from_a_curated_environment_keeps_its_reserved_name_with_a_warning(tmp_path, name, hint):
    """save_to_directory keeps the curated environment's name: metadata here, so a warning, not the error."""
    from mlenv.definition.rules import findings

    spec = load_file(saved_as(tmp_path, name).parent)
    found = findings(spec)
    assert found.errors == [] and spec.name == name
    prefix = name.split("-")[0]
    assert [w.headline for w in found.warnings if w.where == "name"] == [
        f"name: the prefix '{prefix}' is reserved for curated environments in Azure ML; this file was saved from one, and the name is kept "
        f"here as metadata (it does not change the image) (got '{name}'). Fix: give the environment a name of its own before registering it in Azure ML; {hint}"]
    assert definition_hash(spec) == definition_hash(load_file(saved_as(tmp_path, "legacy-train")))  # a name is never hashed


def test_a_reserved_name_written_by_hand_stays_an_error_even_in_v1_json(tmp_path):
    """Only a file the SDK saved (azureml_environment.json) keeps its name; v1 JSON written under
    another name, our YAML, and the mlenv: prefix (ours, not Azure ML's) are refused as before."""
    from mlenv.definition.rules import findings

    written = saved_as(tmp_path, "AzureML-mine", file_name="environment.json")
    assert [e.where for e in findings(load_file(written)).errors] == ["name"]
    ours = saved_as(tmp_path, "mlenv:mine")
    assert [e.headline.split(" (got")[0] for e in findings(load_file(ours)).errors] == ["name: the prefix 'mlenv:' is reserved (curated environments)"]


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
    for path in [*EQUIVALENT.glob("*.yml"), DEFINITIONS / "azureml-v2" / "environment.yml", AZUREML_V1 / "azureml_environment.json", AZUREML_V1 / "api" / "azureml_environment.json"]:
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


def test_azureml_v1_remote_build_context_is_one_clear_error():
    import json

    data = json.loads((AZUREML_V1 / "azureml_environment.json").read_text())
    data["docker"].update(baseImage=None, buildContext={"locationType": "git", "location": "https://git.example/ctx.git", "dockerfilePath": "Dockerfile"})
    with pytest.raises(SpecError) as caught:
        from_mapping(data)
    assert caught.value.headline == ("docker.build_context: a v1 build context lives in git or an Azure storage account, which mlenv does not fetch "
                                     "(got 'https://git.example/ctx.git'). Fix: check the context out next to the definition and write build: {path: ./context, dockerfile_path: Dockerfile}")
