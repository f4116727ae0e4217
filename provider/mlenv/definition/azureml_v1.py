"""Azure ML v1's `azureml_environment.json`: the keys it holds that are not about the image.

`Environment.save_to_directory` writes every field of the v1 `Environment` class, with the conda
file (`conda_dependencies.yml`) and the Dockerfile (`BaseDockerfile`) beside it. Besides the
definition the loader reads, that includes settings of the run (`docker.enabled`, `sharedVolumes`,
`shmSize`, `arguments`), of other services (`databricks`, `registryIdentity`,
`inferencingStackVersion`) and of the registry (`assetId`). None changes the image mlenv builds, so
none enters the hash: at the SDK's defaults they pass silently, otherwise each is one warning
saying it is ignored. Two do describe the image and cannot be honoured, so they are errors: an R
section (nothing here builds R) and a build context stored remotely (`location`: git or a storage
account, which is not fetched).

A saved file keeps the name of the environment it was saved from: one saved from a curated
environment is named `AzureML-…`, a prefix Azure ML reserves for its curated environments. The name
is metadata here (mlenv registers nothing in Azure ML), so for a saved file the reserved prefix is a
warning (`SAVED_SOURCE`, see definition/rules.py), where a definition written by hand gets the error.
"""

from __future__ import annotations

from pathlib import Path

from mlenv.diagnostics.errors import SpecError, SpecWarning

FILE_NAME = "azureml_environment.json"
CONDA_FILE_NAME = "conda_dependencies.yml"
DOCKERFILE_NAME = "BaseDockerfile"
SAVED_SOURCE = "an environment the Azure ML v1 SDK saved"
DEFAULT_INTERPRETER = "python"  # the SDK's default: the python on PATH, as if unset
_RUN_SETTINGS = {  # docker.<key>: (the values the SDK writes by default, where the setting belongs)
    "shared_volumes": ((True, None), "the job's volume mounts"),
    "shm_size": (("2g", None), "docker run --shm-size, or the job's shared-memory setting"),
    "arguments": (([], None), "the docker run command line of the job"),
}
_IGNORED = "is ignored: it does not change the image"


def is_saved(path: Path, data: object) -> bool:
    """A file `save_to_directory` wrote: by its name, as `load_from_directory` finds it."""
    return path.name == FILE_NAME and isinstance(data, dict)


def with_saved_files(path: Path, data: dict) -> dict:
    """An `azureml_environment.json` as `save_to_directory` left it: its conda file and Dockerfile
    sit beside it (as `Environment.load_from_directory` reads them); conda only when the SDK would use
    it, i.e. when the dependencies are not user-managed."""
    if not is_saved(path, data):
        return data
    data = dict(data)
    python = data.get("python") if isinstance(data.get("python"), dict) else {}
    conda_given = any(python.get(k) is not None for k in ("condaDependencies", "condaDependenciesFile", "conda_dependencies", "conda_dependencies_file"))
    if (path.parent / CONDA_FILE_NAME).is_file() and not conda_given and not python.get("userManagedDependencies", python.get("user_managed_dependencies")):
        data["python"] = {**python, "condaDependenciesFile": CONDA_FILE_NAME}
    docker = data.get("docker") if isinstance(data.get("docker"), dict) else {}
    if (path.parent / DOCKERFILE_NAME).is_file() and not docker.get("baseDockerfile", docker.get("base_dockerfile")):
        data["docker"] = {**docker, "baseDockerfile": DOCKERFILE_NAME}
    return data


def settings_outside_the_image(data: dict) -> tuple[dict, list[SpecWarning]]:
    """The mapping (keys already in snake_case) without the v1 keys that do not change the image,
    and a warning for each one set to something other than the SDK's default."""
    data, warnings = dict(data), []
    if data.get("r") is not None:
        raise SpecError("r", "an R environment cannot be built: mlenv installs Python environments only",
                        "remove the r section (or set it to null), or use a base image that already has R")
    data.pop("r", None)
    for key, why in (("asset_id", "it names the Azure ML asset the file was saved from; the image is built from this definition, not taken from that asset"),
                     ("inferencing_stack_version", "no inferencing stack is added; install one through pip (e.g. azureml-inference-server-http) if the image serves models")):
        if data.pop(key, None) is not None:
            warnings.append(SpecWarning(key, f"{_IGNORED}: {why}", f"remove {key}"))
    libraries = data.pop("databricks", None)
    if isinstance(libraries, dict) and any(libraries.values()):
        warnings.append(SpecWarning("databricks", f"{_IGNORED}: Databricks libraries are installed on a Databricks cluster, not in an image",
                                    "install them on the cluster, or list the Python ones under pip"))
    if "python" in data:
        data["python"] = _python(data["python"], warnings)
    if "docker" in data:
        data["docker"] = _docker(data["docker"], warnings)
    return data, warnings


def _python(python: object, warnings: list[SpecWarning]) -> object:
    if not isinstance(python, dict):
        return python
    python = dict(python)
    if python.get("interpreter_path") == DEFAULT_INTERPRETER:
        del python["interpreter_path"]
    if python.pop("base_conda_environment", None) is not None:
        warnings.append(SpecWarning("python.base_conda_environment", f"{_IGNORED}: each image gets its own environment, not one derived from another",
                                    "remove base_conda_environment"))
    return python


def _docker(docker: object, warnings: list[SpecWarning]) -> object:
    if not isinstance(docker, dict):
        return docker
    docker = dict(docker)
    docker.pop("enabled", None)  # whether the run uses a container: an image is one either way
    context = docker.get("build_context")
    if isinstance(context, dict) and ({"location", "locationType", "location_type"} & set(context)):
        raise SpecError("docker.build_context", "a v1 build context lives in git or an Azure storage account, which mlenv does not fetch",
                        "check the context out next to the definition and write build: {path: ./context, dockerfile_path: Dockerfile}", context.get("location"))
    for key, (defaults, belongs) in _RUN_SETTINGS.items():
        value = docker.pop(key, None)
        if value not in defaults:
            warnings.append(SpecWarning(f"docker.{key}", f"{_IGNORED}: it is a setting of the container run, for the job that runs the image",
                                        f"give it where the job is started ({belongs}), and remove it here", value))
    registry = docker.get("base_image_registry")
    if isinstance(registry, dict) and "registry_identity" in registry:
        registry = dict(registry)
        if registry.pop("registry_identity") is not None:
            warnings.append(SpecWarning("docker.base_image_registry.registry_identity", f"{_IGNORED}: an Azure managed identity cannot log mlenv in",
                                        "remove it, and give the registry login as a secret (see docker.base_image_registry)"))
        docker["base_image_registry"] = registry
    return docker
