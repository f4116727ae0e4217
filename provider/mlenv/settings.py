"""Machine settings, read from the environment in one place for both shells (CLI and provider):
registry login, default registry, package index, cache folder, the fallback base image, Docker Hub
mirrors. None of them is in a definition hash (a fallback base image becomes the definition's image).

Importing this module costs nothing: it imports the classes it returns only when asked.
"""

from __future__ import annotations

import os

from mlenv.cache import cache_dir  # noqa: F401 - a machine setting too; the cache (a lower stage) owns it

DEFAULT_REGISTRY = "oci:.mlenv/images"  # the embedded default: an OCI image layout, no server


def default_registry() -> str:
    return os.environ.get("MLENV_REGISTRY", DEFAULT_REGISTRY)


def registry_credentials(username: str | None = None, password: str | None = None):
    """The target registry's login. Halves the caller was given (the provider's inputs) are each
    completed from $MLENV_REGISTRY_USERNAME / _PASSWORD, None unless both are known; with none given,
    both come from the environment or neither (a half-set pair is an error naming the missing one).
    None lets the store ask Docker's config (and its credential helper) when the registry asks."""
    from mlenv.oci.auth import Credentials, environment_credentials

    if not (username or password):
        return environment_credentials("MLENV_REGISTRY")
    username = username or os.environ.get("MLENV_REGISTRY_USERNAME")
    password = password or os.environ.get("MLENV_REGISTRY_PASSWORD")
    return Credentials(username, password) if username and password else None


def index_settings(index_url: str | None = None):
    """The package index: `index_url` if given, else pip's and uv's variables (resolve/index.py)."""
    from mlenv.resolve.index import IndexSettings

    return IndexSettings.from_environment(index_url)


def base_image(given: str | None = None) -> str | None:
    """The base image for a definition that names none (a bare conda file, a requirements.txt, an
    MLflow model): `given` (`--image`, the SDK's `image=`), else $MLENV_BASE_IMAGE."""
    return given or os.environ.get("MLENV_BASE_IMAGE") or None


def registry_mirrors() -> tuple[tuple[str, str], ...]:
    """$MLENV_REGISTRY_MIRRORS (oci/mirrors.py reads it: the stage that uses it owns it)."""
    from mlenv.oci.mirrors import registry_mirrors as read

    return read()
