"""Two normal forms of a definition (the rules and their reasons are in docs/HASHING.md).

- `canonical_definition`: what the definition hash covers — only what changes the image, spelled
  one way: PEP 503 names, canonical specifiers, sets sorted, priorities (channels, index order,
  Docker steps) kept in order, files by content digest, metadata and credentials left out.
- `to_mapping`: the same definition in the input schema, normalized the same way but keeping file
  paths, so the provider can build from it and `pulumi preview --diff` shows package-level changes.

Both are pure functions of the model: they read no file. The digests of the files a definition
points at were taken when it was loaded (`mlenv.definition`), and travel on the model.
"""

from __future__ import annotations

import os

from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name, canonicalize_version

from mlenv.diagnostics.redact import USERINFO
from mlenv.definition.model import TARGET_PLATFORM, EnvironmentSpec

__all__ = ["TARGET_PLATFORM", "canonical_requirement", "canonical_definition", "to_mapping"]


def canonical_requirement(requirement: Requirement) -> str:
    """`NumPy [B,a] >= 1.26.04` → `numpy[a,b]>=1.26.4`."""
    text = canonicalize_name(requirement.name)
    if requirement.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in requirement.extras)) + "]"
    text += str(SpecifierSet(",".join(_canonical_specifier(s) for s in requirement.specifier)))
    if requirement.url:  # a direct reference: the URL, as written, is the requirement
        text += f" @ {requirement.url}" + (" " if requirement.marker else "")
    if requirement.marker:
        text += f"; {requirement.marker}"
    return text


def _canonical_specifier(specifier: Specifier) -> str:
    if specifier.version.endswith(".*") or specifier.operator == "===":
        return str(specifier)
    return specifier.operator + canonicalize_version(specifier.version, strip_trailing_zero=False)


def canonical_definition(spec: EnvironmentSpec) -> dict:
    """The hashed part of a definition, as plain JSON-ready data. Empty sections are left out so a
    new optional field never changes the hash of definitions that do not use it."""
    pip = spec.pip
    out = {
        "image": spec.image,
        "dockerfile": spec.dockerfile.replace("\r\n", "\n") if spec.dockerfile else None,
        "build": _build(spec),
        "steps": list(spec.steps),
        "python": _python(spec),
        "conda": {"channels": list(spec.conda.channels), "packages": sorted(_conda_packages(spec))} if spec.conda and spec.conda.packages else None,
        "pip": sorted(canonical_requirement(r) for r in pip.requirements),
        "pip_hashes": {name: sorted(values) for name, values in sorted(pip.hashes)},
        "pip_constraints": sorted(canonical_requirement(r) for r in pip.constraints),
        "pip_index": _index(spec),
        "wheels": sorted(({"name": w.name, "version": w.version, "filename": w.filename, "sha256": w.sha256} for w in pip.wheels), key=lambda w: w["filename"]),
        "spark": _spark(spec),
        "variables": dict(sorted(spec.variables.items())),
        "curated": spec.curated,
        "compression": spec.compression,  # only when set: every definition without it keeps its hash
        "platform": spec.platform,
    }
    always = ("pip", "variables", "platform")
    return {k: v for k, v in out.items() if k in always or v not in (None, [], {})}


def _build(spec: EnvironmentSpec) -> dict | None:
    """The context by digest; Azure ML asset template files, when filled in for the build, by name."""
    if not spec.build:
        return None
    templates = {"templates": sorted(spec.build.templates.names)} if spec.build.templates else {}
    return {"dockerfile_path": spec.build.dockerfile_path, "digest": spec.build.digest, **templates}


def _python(spec: EnvironmentSpec) -> dict:
    python = spec.python
    return {k: v for k, v in (("version", python.version), ("user_managed_dependencies", python.user_managed_dependencies or None),
                              ("interpreter_path", python.interpreter_path), ("pip", _pip_setting(python.pip))) if v is not None}


def _pip_setting(pip: bool | str) -> bool | str | None:
    """The venv's pip: left out when it is the default (the newest), so existing hashes stay."""
    if pip is True:
        return None
    return pip if pip is False else str(SpecifierSet(",".join(_canonical_specifier(s) for s in SpecifierSet(pip))))


def _conda_packages(spec: EnvironmentSpec) -> list[str]:
    """The conda packages, and conda's pip when it is pinned (`pip=24.2`: the solver applies it)."""
    return [*spec.conda.packages, *([spec.conda.pip_spec] if spec.conda.pip_spec else [])]


def _index(spec: EnvironmentSpec) -> dict:
    """Where packages resolve from changes what resolves; who logs in does not (userinfo dropped).
    A local find-links folder counts by content, like a private wheel."""
    pip = spec.pip
    folders = {folder.path: folder.digest for folder in pip.links_folders}
    return {k: v for k, v in (
        ("index_url", _without_userinfo(pip.index_url) if pip.index_url else None),
        ("extra_index_urls", [_without_userinfo(u) for u in pip.extra_index_urls]),
        ("find_links", [folders.get(f) or _without_userinfo(f) for f in pip.find_links]),
    ) if v}


def _without_userinfo(url: str) -> str:
    """An index URL without its login (`user:${VAR}@`): the hash names where packages come from, not who fetches them."""
    return USERINFO.sub("", url)


def _spark(spec: EnvironmentSpec) -> dict | None:
    spark = spec.spark
    if not (spark.packages or spark.repositories):
        return None
    return {"repositories": list(spark.repositories), "packages": sorted(spark.packages), "precache_packages": spark.precache_packages}


# --- the input form -----------------------------------------------------------------------------

def to_mapping(spec: EnvironmentSpec) -> dict:
    """The definition as inputs `from_mapping` accepts (base dir: the current directory), normalized.
    A conda section without conda packages becomes what it means for the build: its Python pin and
    its pip lines. A curated environment is its reference, resolved to the version (what a reviewer
    reads in a diff), with the metadata given beside it."""
    if spec.curated:
        return _curated_mapping(spec)
    docker = {k: v for k, v in (("steps", list(spec.steps)),
                                ("base_image_registry", {k: v for k, v in (("address", spec.base_registry.address), ("username", spec.base_registry.username)) if v})) if v}
    out = {
        **_metadata_mapping(spec),
        "image": spec.image,
        "dockerfile": spec.dockerfile,
        "build": {"path": _local_path(spec.build.path), "dockerfile_path": spec.build.dockerfile_path,
                  **({"template_files": list(spec.build.templates.names)} if spec.build.templates else {})} if spec.build else None,
        "docker": docker or None,
        "python": _python(spec) or None,
        "conda": _conda_mapping(spec),
        "pip": _pip_lines(spec),
        "pip_constraints": sorted(canonical_requirement(r) for r in spec.pip.constraints) or None,
        "spark": _spark(spec),
        "variables": dict(sorted(spec.variables.items())),
        "curated": spec.curated,
        "builder": spec.builder,
        "compression": spec.compression,
        "verify": list(spec.verify) or None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _metadata_mapping(spec: EnvironmentSpec) -> dict:
    return {"name": spec.name or None, "version": spec.version or None, "description": spec.description or None,
            "tags": dict(spec.tags) or None, "os_type": spec.os_type if spec.os_type != "linux" else None,
            "inference_config": spec.inference_config}


def _curated_mapping(spec: EnvironmentSpec) -> dict:
    out = {**_metadata_mapping(spec), "curated": spec.curated}
    return {k: v for k, v in out.items() if v is not None}


def _conda_mapping(spec: EnvironmentSpec) -> dict | None:
    if not spec.conda or not spec.conda.packages:
        return None
    from mlenv.definition.conda_file import python_match_spec

    python = [python_match_spec(v) for v in spec.conda.python_specs]
    return {"channels": list(spec.conda.channels), "dependencies": [*python, *_conda_packages(spec)]}


def _pip_lines(spec: EnvironmentSpec) -> list[str]:
    pip = spec.pip
    lines = [f"--index-url {pip.index_url}"] if pip.index_url else []
    lines += [f"--extra-index-url {u}" for u in pip.extra_index_urls]
    lines += [f"--find-links {_local_path(f) if '://' not in f else f}" for f in pip.find_links]
    hashes = dict(pip.hashes)
    for requirement in sorted(pip.requirements, key=canonical_requirement):
        line = canonical_requirement(requirement)
        name = canonicalize_name(requirement.name)
        lines.append(" ".join([line, *(f"--hash={h}" for h in sorted(hashes.get(name, ())))]))
    lines += [_local_path(w.path) for w in sorted(pip.wheels, key=lambda w: w.filename)]
    return lines


def _local_path(path: str) -> str:
    """Relative to the current directory when inside it, so stacks run from another checkout agree."""
    relative = os.path.relpath(path)
    return "./" + relative if not relative.startswith("..") else str(path)
