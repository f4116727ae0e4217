"""The small fields of a definition (names, lists of strings, the platform, Spark, tags, the builder,
the compression): each value checked, with one error naming the field."""

from __future__ import annotations

import re
from typing import Any

from mlenv.definition.model import TARGET_PLATFORM, SparkSection
from mlenv.diagnostics.errors import SpecError

_MAVEN = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_.+-]+\Z")


def text(where: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and where == "version":
        return str(value)
    if not isinstance(value, str):
        raise SpecError(where, "must be a string", "quote the value", value)
    return value


def strings(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise SpecError(where, "must be a list of strings", f"write {where.split('.')[-1]}: [\"...\", \"...\"]", value)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise SpecError(f"{where}[{index}]", "must be a non-empty string", "quote the value", item)
    return tuple(item.strip() for item in value)


def one_of(where: str, *values: Any) -> Any:
    given = [v for v in values if v not in (None, "", [], {})]
    if len({repr(v) for v in given}) > 1:
        raise SpecError(where, "is given twice with different values", "keep one of them", given)
    return given[0] if given else None


def platform(value: Any) -> str:
    if value is None:
        return TARGET_PLATFORM
    text = f"{value.get('os', 'linux')}/{value.get('architecture', 'amd64')}" if isinstance(value, dict) else str(value)
    text = text.lower().replace("x86_64", "amd64")
    if text != TARGET_PLATFORM:
        raise SpecError("platform", "only linux/amd64 images are built", "build on linux/amd64 (os: Linux, architecture: amd64)", value)
    return text


def spark(spark: dict) -> SparkSection:
    packages = []
    for index, item in enumerate(spark.get("packages") or []):
        if isinstance(item, dict):
            item = ":".join(str(item.get(k, "")) for k in ("group", "artifact", "version"))
        if not isinstance(item, str) or not _MAVEN.match(item):
            raise SpecError(f"spark.packages[{index}]", "not a Maven coordinate", "write group:artifact:version, e.g. com.microsoft.ml.spark:mmlspark_2.11:0.15", item)
        packages.append(item)
    precache = spark.get("precache_packages", False)
    if not isinstance(precache, bool):
        raise SpecError("spark.precache_packages", "must be true or false", "write precache_packages: true", precache)
    return SparkSection(strings("spark.repositories", spark.get("repositories")), tuple(packages), precache)


def tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise SpecError("tags", "must be a mapping of name: value", "write tags: {team: vision}", value)
    return {k: "" if v is None else str(v) for k, v in value.items()}


def inference_config(value: Any) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise SpecError("inference_config", "must be a mapping (liveness_route, readiness_route, scoring_route)", "write inference_config: {scoring_route: {port: 5001, path: /score}}", value)
    return value


def builder(value: Any) -> str | None:
    if value is None:
        return None
    if value not in ("oci", "docker"):
        raise SpecError("builder", "unknown builder", "use oci (daemonless, the default) or docker (a Docker engine builds it)", value)
    return value


def compression(value: Any) -> str | None:
    """`compression: zstd` asks for tar+zstd layers; gzip, the default, is the same as leaving it out
    (and hashes the same)."""
    if value is None or value == "gzip":
        return None
    if value != "zstd":
        raise SpecError("compression", "unknown layer compression", "use zstd (smaller, faster; Docker 23+ and containerd 1.5+ pull it) or leave it out for gzip", value)
    return value


def metadata(data: dict) -> dict:
    """The metadata fields of a mapping (METADATA_FIELDS), checked, as EnvironmentSpec keywords:
    they name and describe an environment and are never hashed."""
    return {"name": text("name", data.get("name")), "version": text("version", data.get("version")),
            "description": text("description", data.get("description")), "tags": tags(data.get("tags")),
            "os_type": text("os_type", data.get("os_type")) or "linux",
            "inference_config": inference_config(data.get("inference_config"))}
