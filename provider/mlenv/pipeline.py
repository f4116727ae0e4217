"""The whole data path, one call: spec → hash → (cache hit?) → base → lock → layers → image → publish.

The provider and the CLI are thin shells over `build`; nothing here knows about either.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Callable

from mlenv.oci import image as img
from mlenv.oci.auth import Credentials
from mlenv.diagnostics.buildlog import BuildLog
from mlenv.diagnostics.errors import BuildError
from mlenv.identity.hashing import builder_of, definition_hash, tag_for
from mlenv.resolve.index import IndexSettings
from mlenv.definition.reference import parse_reference, parse_repository
from mlenv.definition.model import EnvironmentSpec
from mlenv.oci.store import open_store


@dataclass
class BuildResult:
    image_ref: str
    digest: str
    tag: str
    definition_hash: str
    lock_hash: str
    packages: list[str]
    cache_hit: bool
    bytes_pushed: int
    seconds: float = 0.0
    layers: list[dict] = field(default_factory=list)

    def outputs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("seconds", "layers")}


def build(
    spec: EnvironmentSpec,
    repository: str,
    credentials: Credentials | None = None,
    index: IndexSettings | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> BuildResult:
    from mlenv.definition.rules import findings

    findings(spec, building=True).raise_first()  # nothing is resolved or pushed for a definition that cannot build
    started = time.monotonic()
    target_ref = parse_repository(repository)
    hash_hex = definition_hash(spec)
    tag = tag_for(hash_hex)
    index = (index or IndexSettings.from_environment()).for_definition(spec.pip)
    buildlog = BuildLog(hash_hex[:12], echo=log, secrets=[credentials.password if credentials else "", *index.secrets()])
    target = open_store(target_ref, credentials)
    try:
        hit = lookup(target, target_ref.repository, tag, hash_hex)
        if hit:
            log(f"cache hit: {hit.image_ref} already holds definition {hash_hex[:12]}")
            hit.seconds = time.monotonic() - started
            return hit
        builder = _docker_build_and_publish if builder_of(spec) == "docker" else _build_and_publish
        result = builder(spec, target, target_ref, hash_hex, tag, credentials, index, buildlog)
    except BuildError as error:
        raise diagnosed(error, buildlog) from None
    finally:
        target.close()
    result.seconds = time.monotonic() - started
    return result


def diagnosed(error: BuildError, buildlog: BuildLog) -> BuildError:
    """The error with its diagnosis and evidence, the whole log saved beside it."""
    from mlenv.diagnostics.diagnose import diagnose

    buildlog.add_output(error.output)
    buildlog(f"error: {error.headline}")
    path = buildlog.save()
    found = diagnose(buildlog.text(), limit=50, secrets=buildlog.secrets)
    chosen = next((d for d in found if d.rule.id == error.rule), None if error.rule else found[0])
    evidence = chosen.evidence if chosen else [(n + 1, line) for n, line in enumerate(buildlog.lines)][-4:]
    evidence = [line for line in evidence if not line[1].startswith("error: ")] or evidence[-1:]
    return error.with_details(rule=error.rule or chosen.rule.id, evidence=evidence, log_path=str(path))


def lookup(target, repository: str, tag: str, hash_hex: str) -> BuildResult | None:
    """A cache hit is the hash-derived tag whose manifest carries the same full definition hash."""
    found = target.get_manifest(tag)
    if found is None:
        return None
    data, _ = found
    annotations = json.loads(data).get("annotations", {})
    if annotations.get(img.DEFINITION_HASH) != hash_hex:
        return None
    digest = img.descriptor("", data)["digest"]
    packages = json.loads(annotations.get(img.PACKAGES, "[]"))
    return BuildResult(f"{repository}@{digest}", digest, tag, hash_hex, annotations.get(img.LOCK_HASH, ""), packages, True, 0)


def exists(repository: str, digest: str, credentials: Credentials | None = None) -> bool:
    """Whether the image is still in the registry (what `pulumi refresh` asks)."""
    store = open_store(parse_repository(repository), credentials)
    try:
        return store.has_manifest(digest)
    finally:
        store.close()


def _base_credentials(spec, base_ref, target_ref, credentials):
    """The base registry's own login if the definition names one, else the target's on the same host."""
    login = spec.base_registry
    if login.username and login.password:
        return Credentials(login.username, login.password)
    return credentials if base_ref.host == target_ref.host else None


def _check_python(spec, python) -> None:
    wanted = spec.python.version
    if wanted and not (python.version == wanted or wanted.startswith(python.version + ".")):
        raise BuildError("python.version", f"the definition asks for Python {wanted}, the base image has Python {python.version}",
                         f"use a base image with Python {wanted}, or change the Python pin to {python.version}", rule="image.python-mismatch")


def _build_and_publish(spec, target, target_ref, hash_hex, tag, credentials, index, log) -> BuildResult:
    """The daemonless builder: wheels installed on the host into deterministic layers on top of the
    base image's own layers."""
    # Imported here so a cache hit (the common case) never pays for the build stages' imports.
    from mlenv.oci.base_image import python_facts, resolve_base
    from mlenv.oci.layers import package_layer, plan_layers, venv_layer
    from mlenv.resolve.pip_lock import lock_hash, resolve
    from mlenv.oci.publish import publish
    from mlenv.resolve.wheel_download import fetch_wheels

    base_ref = parse_reference(spec.image)
    base_store = open_store(base_ref, _base_credentials(spec, base_ref, target_ref, credentials))
    try:
        base = resolve_base(base_ref, base_store)
        python, wheels, layers = None, [], []
        if not spec.python.user_managed_dependencies:  # else: bring your own container, install nothing
            python = python_facts(base, base_store)
            log(f"base {base_ref} ({base.digest[:19]}): Python {python.version}, glibc {python.glibc}")
            _check_python(spec, python)
            wheels = resolve(spec.pip, python, index)
            log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
            files = fetch_wheels(wheels, index)
            layers = [venv_layer(python.version, python.interpreter)]
            layers += [package_layer(group, files, python.version) for group in plan_layers(wheels)]
        locked = lock_hash(base.digest, python, wheels)
        packages = [w.pin for w in wheels]
        labels = {img.DEFINITION_HASH: hash_hex, img.LOCK_HASH: locked}
        config = img.build_config(base, layers, spec.variables, labels, venv=python is not None)
        manifest = img.build_manifest(base, config, layers, {**labels, img.PACKAGES: json.dumps(packages)})
        if spec.verify:
            _verify_layers(spec, base, base_store, layers, config, hash_hex, log)
        report = publish(target, base, base_store, layers, config, manifest, tag)
    finally:
        base_store.close()
    return _result(target_ref, report, tag, hash_hex, locked, packages, layers, log)


def _verify_layers(spec, base, base_store, layers, config, hash_hex, log) -> None:
    """Run the verify commands in the image before anything is published: loaded into the engine
    from the layers on disk, so no registry is involved."""
    from mlenv.oci.base_image import fetch_blob
    from mlenv.builders.docker.engine import engine, verify
    from mlenv.builders.docker.saved_image import load_image

    client = engine()
    paths = [fetch_blob(base_store, layer["digest"]) for layer in base.layers] + [layer.path for layer in layers]
    image = load_image(client, config, paths, f"mlenv-verify:{hash_hex[:32]}")
    verify(client, image, spec.verify, log)


def _result(target_ref, report, tag, hash_hex, locked, packages, layers, log) -> BuildResult:
    log(f"pushed {report.bytes_pushed} bytes ({report.blobs_uploaded} uploaded, {report.blobs_mounted} mounted, {report.blobs_present} already there)")
    layer_info = [{"digest": l.digest, "size": l.size, "created_by": l.created_by} for l in layers]
    return BuildResult(f"{target_ref.repository}@{report.digest}", report.digest, tag, hash_hex, locked, packages, False, report.bytes_pushed, layers=layer_info)


def _docker_build_and_publish(spec, target, target_ref, hash_hex, tag, credentials, index, log) -> BuildResult:
    """The Docker builder: the engine builds (Dockerfile, build context, or base + pip + steps);
    the result is published like any of our images, base layers reused when the final FROM matches."""
    from mlenv.builders.docker import engine as docker
    from mlenv.builders.docker.saved_image import image_parts, save_over_base
    from mlenv.builders.docker.recipe import prepare
    from mlenv.oci.publish import publish

    client = docker.engine()
    with docker.work_dir() as work:
        credentials_for = lambda ref: _base_credentials(spec, ref, target_ref, credentials)  # noqa: E731
        recipe = prepare(spec, Path(work), credentials_for, index, _check_python, log)
        try:
            build_tag = f"{docker.BUILD_REPOSITORY}:{hash_hex[:32]}"
            docker.run_build(recipe.context, recipe.dockerfile, build_tag, {img.DEFINITION_HASH: hash_hex}, recipe.secrets, log, recipe.docker_config)
            if spec.verify:
                docker.verify(client, build_tag, spec.verify, log)
            saved = save_over_base(client, build_tag, Path(work), recipe.base)
            layers, config, locked, base = image_parts(saved, recipe.base, recipe.wheels, Path(work))
            packages = [w.pin for w in recipe.wheels]
            manifest = img.build_manifest(base, config, layers, {img.DEFINITION_HASH: hash_hex, img.LOCK_HASH: locked, img.PACKAGES: json.dumps(packages)})
            report = publish(target, base, recipe.base_store, layers, config, manifest, tag)
        finally:
            if recipe.base_store:
                recipe.base_store.close()
    return _result(target_ref, report, tag, hash_hex, locked, packages, layers, log)
