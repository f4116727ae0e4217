"""Open the right store for a reference: a remote registry or an OCI layout directory."""

from __future__ import annotations

from mlenv.oci.auth import Credentials
from mlenv.oci.layout import LayoutStore
from mlenv.definition.reference import ImageRef
from mlenv.oci.registry import RegistryStore


def open_store(ref: ImageRef, credentials: Credentials | None = None) -> RegistryStore | LayoutStore:
    if ref.is_layout:
        return LayoutStore(ref.path)
    return RegistryStore(ref.host, ref.path, credentials)
