"""`pulumi_mlenv.Environment`: a definition in, an immutable `repo@sha256:…` reference out."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi.dynamic import Resource

from mlenv.errors import SpecError
from mlenv.provider import EnvironmentProvider
from mlenv.spec import load_file, read_requirements_file


class Environment(Resource, module="mlenv", name="Environment"):
    """An ML environment: base image + pip requirements + variables, published to `repository`.

    The image is built and pushed only when no image for the definition hash exists there;
    `image_ref` is the digest-pinned reference jobs and other stacks consume.
    """

    image_ref: pulumi.Output[str]
    digest: pulumi.Output[str]
    tag: pulumi.Output[str]
    definition_hash: pulumi.Output[str]
    lock_hash: pulumi.Output[str]
    packages: pulumi.Output[list]
    cache_hit: pulumi.Output[bool]
    bytes_pushed: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        repository: pulumi.Input[str],
        file: Optional[str] = None,
        image: Optional[pulumi.Input[str]] = None,
        pip: Optional[pulumi.Input[Sequence[str] | str]] = None,
        variables: Optional[pulumi.Input[Mapping[str, str]]] = None,
        description: Optional[str] = None,
        env_name: Optional[str] = None,
        registry_username: Optional[pulumi.Input[str]] = None,
        registry_password: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        definition = _definition(file, image, pip, variables, description, env_name)
        props = {
            **definition,
            "repository": repository,
            "registry_username": registry_username,
            "registry_password": pulumi.Output.secret(registry_password) if registry_password is not None else None,
            **{key: None for key in ("image_ref", "digest", "tag", "definition_hash", "lock_hash", "packages", "cache_hit", "bytes_pushed")},
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["registry_password"]))
        super().__init__(EnvironmentProvider(), resource_name, props, opts)


def _definition(file, image, pip, variables, description, env_name) -> dict:
    """Fields from the file (if any), overridden by explicit arguments."""
    fields: dict = {}
    try:
        if file is not None:
            spec = load_file(file)
            fields = {
                "image": spec.image,
                "pip": [str(r) for r in spec.pip],
                "variables": dict(spec.variables),
                "description": spec.description,
                "env_name": spec.name,
            }
        if isinstance(pip, str):
            pip = read_requirements_file(Path(pip))
    except SpecError as error:
        raise pulumi.RunError(f"mlenv.Environment: {error}") from None
    explicit = {"image": image, "pip": pip, "variables": variables, "description": description, "env_name": env_name}
    fields.update({k: v for k, v in explicit.items() if v is not None})
    return fields
