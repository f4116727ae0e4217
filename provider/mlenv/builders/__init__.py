"""The builders: a definition in, image parts out (interface in builders/request.py).

`oci`, the daemonless builder (builders/daemonless.py), installs on the host into deterministic
layers; `docker` (builders/docker/) builds with a Docker engine. `builder_of` (definition/model.py)
names the one a definition gets; the definition hash carries that builder's version.
"""

from __future__ import annotations

from mlenv.builders.request import Builder, BuildRequest, ImageParts
from mlenv.definition.model import EnvironmentSpec, builder_of

__all__ = ["Builder", "BuildRequest", "ImageParts", "builder_for"]


def builder_for(spec: EnvironmentSpec) -> Builder:
    """The builder for a definition, imported only when a build is needed (a cache hit never pays
    for a builder's imports)."""
    if builder_of(spec) == "docker":
        from mlenv.builders.docker.builder import DockerBuilder

        return DockerBuilder()
    from mlenv.builders.daemonless import DaemonlessBuilder

    return DaemonlessBuilder()
