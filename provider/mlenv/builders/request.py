"""What every builder takes and gives back: a `BuildRequest` in, `ImageParts` out.

A builder turns a definition into the parts of an image: the base it stands on, our layers, the
config (without the identity labels) and the `Lock` it resolved. The pipeline alone derives the lock
hash from that lock, labels and annotates, verifies, publishes and tags, so every builder's image
carries the same identity, computed one way.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from mlenv.definition.model import EnvironmentSpec
    from mlenv.definition.reference import ImageRef
    from mlenv.diagnostics.buildlog import BuildLog
    from mlenv.oci.auth import Credentials
    from mlenv.oci.base_image import BaseImage
    from mlenv.oci.layers import Layer
    from mlenv.resolve.index import IndexSettings
    from mlenv.resolve.lock import Lock


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    spec: EnvironmentSpec
    target: ImageRef               # the repository the image is published to
    definition_hash: str
    credentials: Credentials | None  # the target registry's login
    index: IndexSettings           # the machine's settings, the definition's own index options applied
    log: BuildLog
    # Called with each of our layers as soon as it is packed, from any thread; gives the layer back.
    # The pipeline's starts its upload while the builder packs the next one (oci/uploads.py).
    on_layer: Callable[[Layer], Layer] = field(default=lambda layer: layer, compare=False, repr=False)
    # Called with the base image and the store it is read from, once resolved: its layers can go first.
    on_base: Callable[[BaseImage, object], None] = field(default=lambda base, store: None, compare=False, repr=False)

    def base_credentials(self, ref: ImageRef) -> Credentials | None:
        """The base registry's login: the definition's own, else $MLENV_BASE_REGISTRY_USERNAME /
        _PASSWORD, else the target's when the base is on the same host; None lets the store ask
        Docker's config for the base host."""
        from mlenv.oci.auth import Credentials, environment_credentials

        login = self.spec.base_registry
        if login.username and login.password:
            return Credentials(login.username, login.password, source="docker.base_image_registry")
        return environment_credentials("MLENV_BASE_REGISTRY") or (self.credentials if ref.host == self.target.host else None)


@dataclass(frozen=True, kw_only=True)
class ImageParts:
    """An image before its identity: the pipeline adds the labels and annotations, then publishes.

    Holds open what publishing still reads (the base store, the folder of the layers): use it as a
    context manager, or call `close`."""

    base: BaseImage | None       # None: every layer is ours (a Docker image not starting with its base)
    base_store: object | None    # a Store the base's layers are copied from when the target lacks them
    layers: tuple[Layer, ...]
    config: dict                 # the image config, without the identity labels
    lock: Lock
    verified: bool = False       # the builder already ran `spec.verify` on this very image
    created: str | None = None   # the derived time (builders/created.py), None: not known (the epoch)
    resources: ExitStack = field(default_factory=ExitStack, compare=False, repr=False)

    @property
    def packages(self) -> list[str]:
        return self.lock.packages

    def close(self) -> None:
        self.resources.close()

    def __enter__(self) -> ImageParts:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class Builder(Protocol):
    def build(self, request: BuildRequest) -> ImageParts:
        """The image parts for `request.spec`; everything it opened is released by `ImageParts.close`
        (or by the builder itself when it raises)."""
        ...
