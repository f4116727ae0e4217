"""Assemble the OCI image: the base image's config extended with our layers, env and labels, and a
manifest whose annotations carry the identity (definition hash, lock hash, packages)."""

from __future__ import annotations

import copy

from typing import TYPE_CHECKING

from mlenv.definition.model import ENV_PREFIX
from mlenv.digests import canonical_json, digest_of
from mlenv.oci.mediatypes import OCI_CONFIG, OCI_MANIFEST, TO_OCI

if TYPE_CHECKING:
    from mlenv.oci.base_image import BaseImage
    from mlenv.oci.layers import Layer

CREATED = "1970-01-01T00:00:00Z"  # a placeholder the pipeline replaces with the derived time (`dated`)
DEFINITION_HASH = "dev.mlenv.definition-hash"
LOCK_HASH = "dev.mlenv.lock-hash"
PACKAGES = "dev.mlenv.packages"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
CREATED_AT = "org.opencontainers.image.created"


def to_json(data: dict) -> bytes:
    """Config and manifest bytes (their digest is the image's identity)."""
    return canonical_json(data, ensure_ascii=True)


def descriptor(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


def build_config(base: BaseImage, layers: list[Layer], variables: dict[str, str], *, venv: bool = True, conda: bool = False) -> dict:
    """The base config plus our layers and env (the identity labels come last, `labelled`). Without a
    venv (user-managed dependencies, "bring your own container") PATH stays the base image's; a conda
    environment gets PATH and CONDA_PREFIX, as `conda activate` sets them."""
    config = copy.deepcopy(base.config)
    config["created"] = CREATED
    config.setdefault("architecture", "amd64")
    config.setdefault("os", "linux")
    runtime = config.setdefault("config", {})
    runtime["Env"] = _environment(runtime.get("Env") or [], variables, "conda" if conda else "venv" if venv else None)
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"] += [layer.diff_id for layer in layers]
    config["history"] = (config.get("history") or []) + [{"created": CREATED, "created_by": layer.created_by} for layer in layers]
    return config


def extended(config: dict, layers: list[Layer], variables: dict[str, str], *, conda: bool) -> dict:
    """An image config (a Docker build's) with more of our layers on top, and the environment's PATH
    and prefix variable set as `build_config` sets them."""
    config = copy.deepcopy(config)
    runtime = config.setdefault("config", {})
    runtime["Env"] = _environment(runtime.get("Env") or [], variables, "conda" if conda else "venv")
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"] += [layer.diff_id for layer in layers]
    config["history"] = (config.get("history") or []) + [{"created": CREATED, "created_by": layer.created_by} for layer in layers]
    return config


def dated(config: dict, created: str, base: BaseImage | None) -> dict:
    """The config with the image's derived time (builders/created.py) as its `created` and on every
    history entry after the base's (ours, or a Docker build's, which carry the engine's clock)."""
    config = copy.deepcopy(config)
    config["created"] = created
    for entry in (config.get("history") or [])[len(base.config.get("history") or []) if base else 0:]:
        entry["created"] = created
    return config


def labelled(config: dict, labels: dict[str, str]) -> bytes:
    """A builder's config with the identity labels (definition hash, lock hash) added, as published."""
    config = copy.deepcopy(config)
    runtime = config.setdefault("config", {})
    runtime["Labels"] = {**(runtime.get("Labels") or {}), **labels}
    return to_json(config)


def _environment(base_env: list[str], variables: dict[str, str], kind: str | None) -> list[str]:
    env = dict(item.split("=", 1) for item in base_env if "=" in item)
    if kind:
        base_path = env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env["PATH"] = f"{ENV_PREFIX}/bin:{base_path}"
        env["CONDA_PREFIX" if kind == "conda" else "VIRTUAL_ENV"] = ENV_PREFIX
    env.update(variables)
    return [f"{key}={value}" for key, value in env.items()]


def build_manifest(base: BaseImage | None, config: bytes, layers: list[Layer], annotations: dict[str, str]) -> bytes:
    """Base layers as they are in the registry (re-described in OCI terms), then ours. `base` is None
    for a Docker build whose base could not be matched: then every layer is ours."""
    base_layers = [{**layer, "mediaType": TO_OCI.get(layer["mediaType"], layer["mediaType"])} for layer in (base.layers if base else ())]
    for layer in base_layers:
        layer.pop("urls", None)
    ours = [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size} for layer in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": base_layers + ours,
        "annotations": {**({BASE_NAME: str(base.ref), BASE_DIGEST: base.digest} if base else {}), **annotations},
    }
    return to_json(manifest)
