"""`get_environment`: a consumer stack reads a version or label of an environment from the
repository it was registered in (docs/VERSIONS.md) — no state shared with the stack that built it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from mlenv.diagnostics.errors import MlenvError, SpecError


@dataclass(frozen=True)
class EnvironmentVersion:
    image_ref: str  # repository@sha256:…, what jobs run
    digest: str
    name: str
    version: str
    labels: list[str]
    definition_hash: str
    archived: bool


def get_environment(repository: str, name: str, *, label: Optional[str] = None, version: Optional[str] = None,
                    registry_username: Optional[str] = None, registry_password: Optional[str] = None) -> EnvironmentVersion:
    """`name` at `version`, or at `label` (default: latest). Archived versions are found by version."""
    from mlenv.catalogue import reads
    from mlenv.definition.reference import parse_repository
    from mlenv.oci.store import open_store
    from mlenv.settings import registry_credentials

    try:
        if label and version:
            raise SpecError("label", "and version were both given", "give one: version pins, a label follows what it is moved to", label)
        target = parse_repository(repository)
        store = open_store(target, registry_credentials(registry_username, registry_password))
        try:
            found = reads.resolve(store, name, version=version, label=None if version else label)
        finally:
            store.close()
    except MlenvError as error:
        raise pulumi.RunError(f"mlenv.get_environment: {error}") from None
    return EnvironmentVersion(image_ref=f"{target.repository}@{found.digest}", digest=found.digest, name=found.name, version=found.version,
                              labels=list(found.labels), definition_hash=found.definition_hash, archived=found.archived)


def get_environment_output(repository: pulumi.Input[str], name: pulumi.Input[str], **options) -> pulumi.Output[EnvironmentVersion]:
    """The same, for inputs that are outputs of other resources (a StackReference's, say)."""
    return pulumi.Output.all(repository, name).apply(lambda values: get_environment(values[0], values[1], **options))
