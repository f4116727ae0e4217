"""`pulumi_mlenv.Environment`: a definition in, an immutable `repo@sha256:…` reference out.

Every definition source lands in the same model (`mlenv.definition`): a definition file (ours or
Azure ML's, a bare conda file or requirements.txt on `image=`, an MLflow model…), typed sections,
plain keyword arguments, or one of the `from_*` constructors. The program
parses what it can see so warnings (mutable base tag, unpinned packages…) appear in `pulumi
preview`; the provider checks again, normalizes, and fails preview on errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
from pulumi.dynamic import Resource

from mlenv.identity.canonical import to_mapping
from mlenv.diagnostics.errors import SpecError
from mlenv.provider import EnvironmentProvider
from mlenv.definition.load import from_mapping, load_file
from mlenv.definition.azureml_v1 import SAVED_SOURCE
from mlenv.definition.model import LABELS_PROPERTY, OUTPUT_PROPERTIES, SECRET_PROPERTIES, SOURCE_PROPERTY

from .sections import DockerSection, PythonSection, SparkSection, section_mapping


class Environment(Resource, module="mlenv", name="Environment"):
    """An ML environment: base image + conda/pip + variables (+ Docker build), published to `repository`.

    The image is built and pushed only when no image for the definition hash exists there;
    `image_ref` is the digest-pinned reference jobs and other stacks consume.
    """

    image_ref: pulumi.Output[str]
    digest: pulumi.Output[str]
    tag: pulumi.Output[str]
    tag_ref: pulumi.Output[str]  # repository:tag, for tools that take no digest in a layout (skopeo, podman: oci:PATH:TAG)
    definition_hash: pulumi.Output[str]
    lock_hash: pulumi.Output[str]
    packages: pulumi.Output[list]
    cache_hit: pulumi.Output[bool]
    bytes_pushed: pulumi.Output[int]
    name: pulumi.Output[str]  # the catalogue name the version is under: env_name, or anon-<12 hex of the hash> with no env_name
    version: pulumi.Output[str]  # the version under that name in the repository
    labels: pulumi.Output[list]  # that version's labels, `latest` among them while it is the newest

    def __init__(
        self,
        resource_name: str,
        repository: pulumi.Input[str],
        file: Optional[str] = None,
        *,
        image: Optional[pulumi.Input[str]] = None,
        pip: Optional[pulumi.Input[Sequence[str] | str]] = None,
        conda: Optional[Any] = None,
        conda_file: Optional[str] = None,
        python: Optional[PythonSection] = None,
        docker: Optional[DockerSection] = None,
        spark: Optional[SparkSection] = None,
        dockerfile: Optional[str] = None,
        build: Optional[Mapping[str, str]] = None,
        variables: Optional[pulumi.Input[Mapping[str, str]]] = None,
        environment_variables: Optional[pulumi.Input[Mapping[str, str]]] = None,
        curated: Optional[str] = None,
        builder: Optional[str] = None,
        compression: Optional[str] = None,
        verify: Optional[Sequence[str]] = None,
        env_name: Optional[str] = None,
        version: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        labels: Optional[Sequence[str]] = None,
        registry_username: Optional[pulumi.Input[str]] = None,
        registry_password: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        explicit = {
            "image": image, "pip": pip, "conda": conda, "conda_file": conda_file, "python": section_mapping(python),
            "docker": section_mapping(docker), "spark": section_mapping(spark), "dockerfile": dockerfile, "build": build,
            "variables": variables, "environment_variables": environment_variables, "curated": curated,
            "builder": builder, "compression": compression, "verify": verify,
            "name": env_name, "version": version, "description": description, "tags": tags,
        }
        base_password = _pop_base_password(explicit)
        definition, specs = _definition(file, {k: v for k, v in explicit.items() if v is not None})
        if "name" in definition:
            definition["env_name"] = definition.pop("name")
        secret = lambda value: pulumi.Output.secret(value) if value is not None else None  # noqa: E731
        props = {
            **definition,
            "repository": repository,
            "registry_username": registry_username,
            "registry_password": secret(registry_password),
            "base_image_registry_password": secret(base_password),
            LABELS_PROPERTY: list(labels) if labels else None,
        }
        props.update({key: None for key in OUTPUT_PROPERTIES if props.get(key) is None})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_PROPERTIES)))
        super().__init__(EnvironmentProvider(), resource_name, props, opts)
        _warn(self, specs)

    # --- constructors mirroring Azure ML's ---------------------------------------------------
    @classmethod
    def from_conda_specification(cls, name: str, file_path: str, *, repository: pulumi.Input[str], image: Optional[str] = None, **kwargs) -> "Environment":
        """A conda environment.yml (channels, dependencies, its pip: section) on a base image."""
        return cls(name, repository, image=image, conda_file=file_path, env_name=kwargs.pop("env_name", name), **kwargs)

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str, *, repository: pulumi.Input[str], image: Optional[str] = None, **kwargs) -> "Environment":
        """A requirements.txt (with its -r/-c includes, index options, hashes, local wheels) on a base image."""
        return cls(name, repository, image=image, pip=file_path, env_name=kwargs.pop("env_name", name), **kwargs)

    @classmethod
    def from_existing_conda_environment(cls, name: str, conda_environment_name: str, *, repository: pulumi.Input[str], image: Optional[str] = None, **kwargs) -> "Environment":
        """A local conda environment (a prefix path or an env name), read from its conda-meta: no conda needed."""
        from mlenv.definition.conda_file import python_match_spec
        from mlenv.definition.conda_prefix import read_existing_environment

        conda = _program_step(lambda: read_existing_environment(conda_environment_name))
        mapping = {"channels": list(conda.channels), "dependencies": [*map(python_match_spec, conda.python_specs), *conda.packages, {"pip": list(conda.pip_lines)}]}
        return cls(name, repository, image=image, conda=mapping, env_name=kwargs.pop("env_name", name), **kwargs)

    @classmethod
    def from_docker_build_context(cls, name: str, docker_build_context: str, dockerfile_path: str = "Dockerfile", *, repository: pulumi.Input[str], **kwargs) -> "Environment":
        """A Docker build context directory (honouring .dockerignore) and its Dockerfile."""
        return cls(name, repository, build={"path": docker_build_context, "dockerfile_path": dockerfile_path}, env_name=kwargs.pop("env_name", name), **kwargs)

    @classmethod
    def from_dockerfile(cls, name: str, dockerfile: str, *, repository: pulumi.Input[str], **kwargs) -> "Environment":
        """Dockerfile text (or the path of a Dockerfile) with no build context."""
        return cls(name, repository, dockerfile=dockerfile, env_name=kwargs.pop("env_name", name), **kwargs)

    @classmethod
    def from_curated(cls, name: str, reference: str, *, repository: pulumi.Input[str], **kwargs) -> "Environment":
        """A curated environment of this release (`mlenv curated list`), `mlenv:<name>@latest` or
        `mlenv:<name>:<version>`, built into `repository` on first use; metadata may be given beside it."""
        return cls(name, repository, curated=reference, **kwargs)


def _pop_base_password(explicit: dict) -> Any:
    """The base registry password leaves the definition here and travels as a secret input."""
    docker = explicit.get("docker")
    login = (docker or {}).get("base_image_registry") if isinstance(docker, dict) else None
    if isinstance(login, dict) and login.get("password") is not None:
        explicit["docker"] = {**docker, "base_image_registry": {k: v for k, v in login.items() if k != "password"}}
        return login["password"]
    return None


def _program_step(step):
    try:
        return step()
    except SpecError as error:
        raise pulumi.RunError(f"mlenv.Environment: {error}") from None


def _definition(file: Optional[str], explicit: dict) -> tuple[dict, list]:
    """The file's fields (paths made relative to the program), overridden by explicit arguments,
    normalized when every value is known; with Outputs inside, passed as they are for the provider
    to parse once they resolve. Also the parsed specs, for their warnings. A file the v1 SDK saved
    is said to be one (`definition_source`) while its name is the file's: the provider sees only the
    fields, and the rules keep a saved file's reserved name as metadata."""
    fields, specs = _fields(file, explicit)
    if specs and specs[0].source == SAVED_SOURCE and "name" not in explicit:
        fields = {**fields, SOURCE_PROPERTY: SAVED_SOURCE}
    return fields, specs


def _fields(file: Optional[str], explicit: dict) -> tuple[dict, list]:
    from mlenv.settings import base_image

    given = explicit.get("image")  # the base of a file that names none (a requirements.txt, an MLflow model…)
    fallback = base_image(given if isinstance(given, str) else None)
    specs = [_program_step(lambda: load_file(file, image=fallback))] if file is not None else []
    if specs and not explicit.keys() & {"image", "docker", "dockerfile", "build", "curated"}:
        _program_step(lambda: _require_base(specs[0]))
    fields = to_mapping(specs[0]) if specs else {}
    if specs and not explicit:
        return fields, specs
    fields.update(explicit)
    if _has_outputs(fields):
        return fields, specs
    specs.append(_program_step(lambda: from_mapping(fields, base_dir=Path("."))))
    return to_mapping(specs[-1]), specs


def _require_base(spec) -> None:
    """A bare file or an MLflow model given no image: the program stops with the one error saying how to give it."""
    from mlenv.definition.rules import missing_base_image

    error = missing_base_image(spec)
    if error:
        raise error


def _has_outputs(value: Any) -> bool:
    if isinstance(value, (pulumi.Output, pulumi.Resource)) or hasattr(value, "__await__"):
        return True
    if isinstance(value, Mapping):
        return any(_has_outputs(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_outputs(v) for v in value)
    return False


def _warn(resource: Environment, specs: list) -> None:
    """Warnings (mutable tags, unpinned packages, missing Python pin…) as Pulumi warnings in preview;
    errors are the provider check's to report. What unpinned packages would lock to is asked of the
    index once, for the effective definition, and only in preview: an update run skips the resolve."""
    from mlenv.resolve.index import IndexSettings
    from mlenv.resolve.preview import locked_versions
    from mlenv.definition.rules import findings

    shown = set()
    locked = locked_versions(specs[-1], IndexSettings.from_environment()) if specs and pulumi.runtime.is_dry_run() else {}
    for spec in specs:
        for warning in findings(spec, locked, building=True).warnings:  # building: what preview refuses is its error, not a warning too
            if warning.headline not in shown:
                shown.add(warning.headline)
                pulumi.log.warn(f"mlenv: {warning.headline}", resource=resource)
