"""Machine settings, read from the environment in one place for both shells (CLI and provider):
registry login, default registry, package index, cache folder, the fallback base image, Docker Hub
mirrors. None of them is in a definition hash (a fallback base image becomes the definition's image).

Importing this module costs nothing: it imports the classes it returns only when asked.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def base_registry_credentials():
    """The base registry's login from $MLENV_BASE_REGISTRY_USERNAME / _PASSWORD (both or neither)."""
    from mlenv.oci.auth import environment_credentials

    return environment_credentials("MLENV_BASE_REGISTRY")


def index_settings(index_url: str | None = None):
    """The package index: `index_url` if given, else pip's and uv's variables (resolve/index.py)."""
    from mlenv.resolve.index import IndexSettings

    return IndexSettings.from_environment(index_url)


def cache_dir() -> Path:
    """$MLENV_CACHE_DIR, else ~/.cache/mlenv."""
    return Path(os.environ.get("MLENV_CACHE_DIR") or Path.home() / ".cache" / "mlenv")


def base_image(given: str | None = None) -> str | None:
    """The base image for a definition that names none (a bare conda file, a requirements.txt, an
    MLflow model): `given` (`--image`, the SDK's `image=`), else $MLENV_BASE_IMAGE."""
    return given or os.environ.get("MLENV_BASE_IMAGE") or None


def registry_mirrors() -> tuple[tuple[str, str], ...]:
    """$MLENV_REGISTRY_MIRRORS as (scheme, host) pairs, in order: Docker Hub mirrors, as Docker's
    `registry-mirrors` (URLs such as https://mirror.example or http://127.0.0.1:5000, or bare hosts,
    whose scheme is then "" and chosen as for any registry), separated by spaces or commas."""
    import re
    from urllib.parse import urlsplit

    from mlenv.diagnostics.errors import MlenvError

    mirrors = []
    items = [item for item in re.split(r"[\s,]+", os.environ.get("MLENV_REGISTRY_MIRRORS", "")) if item]
    for number, item in enumerate(items, start=1):
        parts = urlsplit(item if "://" in item else f"//{item}")
        if "@" in parts.netloc:  # a login in the URL: not echoed
            raise MlenvError("MLENV_REGISTRY_MIRRORS", f"mirror {number} has a login in its URL",
                             "remove user:password@ from it; a mirror's login comes from Docker's config (docker login HOST)")
        if parts.scheme not in ("", "http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise MlenvError("MLENV_REGISTRY_MIRRORS", f"mirror {number} is not a registry URL", "give each mirror as a URL with no path "
                             "(https://mirror.example, http://127.0.0.1:5000) or a host[:port], separated by spaces or commas", item)
        mirrors.append((parts.scheme, parts.netloc.lower()))
    return tuple(mirrors)
