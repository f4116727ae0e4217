"""The whole data path, one call: validate → hash → cache hit? → builder (base, lock, layers) → lock
hash → config and manifest with the identity → verify → publish → tag.

The provider and the CLI are thin shells over `build`; nothing here knows about either. The builders
(builders/) make the image's parts; only this module gives them their identity and publishes them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from mlenv.cache import warnings_to
from mlenv.definition.model import EnvironmentSpec
from mlenv.definition.reference import parse_repository
from mlenv.diagnostics.buildlog import BuildLog
from mlenv.diagnostics.errors import BuildError
from mlenv.diagnostics.progress import Progress, reporting
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.oci import image as img
from mlenv.oci.auth import Credentials
from mlenv.oci.store import open_store
from mlenv.settings import index_settings

if TYPE_CHECKING:  # a cache hit imports neither the builders nor the resolve stage
    from mlenv.builders.request import BuildRequest
    from mlenv.resolve.index import IndexSettings


@dataclass
class BuildResult:
    image_ref: str
    digest: str
    tag: str
    tag_ref: str  # repository:tag: what skopeo and podman accept for a layout (oci:PATH:TAG), where a digest is not
    definition_hash: str
    lock_hash: str
    packages: list[str]
    cache_hit: bool
    bytes_pushed: int
    seconds: float = 0.0
    layers: list[dict] = field(default_factory=list)
    name: str = ""  # the catalogue name it is registered under: the definition's, or anon-<12 hex> for one without a name
    version: str = ""  # its version there ("" when the name is not one the catalogue can hold)
    labels: list[str] = field(default_factory=list)

    def outputs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("seconds", "layers")}


def build(
    spec: EnvironmentSpec,
    repository: str,
    credentials: Credentials | None = None,
    index: IndexSettings | None = None,
    log: Callable[[str], None] = lambda line: None,
    *,
    progress: Progress | None = None,
    labels: tuple[str, ...] = (),
    watch_target: Callable | None = None,
) -> BuildResult:
    """The image for `spec` in `repository`: found (a cache hit) or built and published, then
    registered as a version of the definition's name, with `labels` pointed at that version
    (catalogue/, docs/VERSIONS.md). `progress` shows the long work (default: a line into the build
    log at each stage and every 5 s). `watch_target` wraps the target store (the CLI notes what a
    cache hit read, to replay it: replay.py)."""
    from mlenv.definition.rules import findings

    findings(spec, building=True).raise_first()  # nothing is resolved or pushed for a definition that cannot build
    started = time.monotonic()
    hash_hex, target_ref = definition_hash(spec), parse_repository(repository)
    tag = tag_for(hash_hex)
    buildlog = BuildLog(hash_hex[:12], echo=log, secrets=[credentials.password if credentials else ""])  # the lookup's log
    target = open_store(target_ref, credentials)
    target = watch_target(target) if watch_target else target
    try:
        result = lookup(target, target_ref.repository, tag, hash_hex)
        if result:
            log(f"cache hit: {result.image_ref} already holds definition {hash_hex[:12]}")
        else:
            request = _request(spec, repository, credentials, index, log)  # only a build reads the index settings
            buildlog = request.log
            progress = progress or Progress(buildlog)
            with warnings_to(buildlog), reporting(progress):  # a damaged cache entry, repaired, is said in this build's log
                result = _build_and_publish(request, target, tag)
            progress.finish()
        _register(target, spec, result, labels, buildlog)
    except BuildError as error:
        raise diagnosed(error, buildlog) from None
    finally:
        target.close()
    result.seconds = time.monotonic() - started
    return result


def _register(target, spec: EnvironmentSpec, result: BuildResult, labels: tuple[str, ...], log: Callable[[str], None]) -> None:
    """The definition becomes a version of its name (the same hash keeps its version); one without
    a name, of the name derived from its hash (anon-…, version 1, as Azure ML registers anonymous
    environments). A name the catalogue cannot hold is built and left unregistered, and so is a
    nameless one with no labels asked for in a repository that refuses the catalogue's reads or
    writes (a push-only login, say): such builds never needed a catalogue before."""
    from mlenv.catalogue import reads
    from mlenv.catalogue.versions import register
    from mlenv.diagnostics.errors import StoreError

    name, version = _catalogue_name(spec, result.definition_hash, log)
    if name is None:
        return
    try:
        taken = register(target, name, digest=result.digest, definition_hash=result.definition_hash, version=version)
        done = reads.registered(target, name, taken.version, labels)
    except StoreError as error:
        if spec.name or labels:
            raise
        log(f"warning: not registered as {name}: {error.headline}")
        return
    result.name, result.version, result.labels = name, done.version, list(done.labels)
    log(f"registered {name}:{result.version}" + (f" ({', '.join(result.labels)})" if result.labels else ""))


def _catalogue_name(spec: EnvironmentSpec, hash_hex: str, log: Callable[[str], None]) -> tuple[str | None, str | None]:
    """(name, explicit version or None) to register under; (None, None) with a warning for a name
    or version the catalogue cannot hold."""
    from mlenv.catalogue.tags import anonymous_name, check_given_name, check_version
    from mlenv.diagnostics.errors import SpecError

    version = None if spec.version in ("", "auto") else spec.version  # Azure ML's `version: auto` is the next number
    if not spec.name:
        if version not in (None, "1"):
            log(f"warning: version {version} is ignored: an environment without a name is registered as {anonymous_name(hash_hex)}, version 1")
        return anonymous_name(hash_hex), None
    try:
        check_given_name(spec.name)
        if version is not None:
            check_version(version)
    except SpecError as error:
        log(f"warning: not registered as a version: {error}")
        return None, None
    return spec.name, version


def plan_registration(spec: EnvironmentSpec, repository: str, credentials: Credentials | None = None):
    """What `build` would register for `spec` in `repository` — (the `Plan` or None, its sentence) —
    from one listing of the repository's tags, for `pulumi preview`: nothing is built. A registry
    that cannot be read is said in the sentence, not raised; an explicit version that another
    definition holds raises the SpecError `build` would."""
    from mlenv.catalogue.versions import plan
    from mlenv.diagnostics.errors import MlenvError, SpecError

    hash_hex, said = definition_hash(spec), []
    name, version = _catalogue_name(spec, hash_hex, said.append)
    if name is None:
        return None, said[0].removeprefix("warning: ")
    try:
        store = _preview_store(repository, credentials)
        try:
            found = plan(store, name, hash_hex, version)
        finally:
            store.close()
    except SpecError:
        raise
    except (MlenvError, OSError, ValueError) as error:
        problem = error.problem if isinstance(error, MlenvError) else f"{type(error).__name__}: {error}"
        return None, f"the catalogue of {repository} could not be read ({problem}); up registers a version of {name} all the same"
    return found, str(found)


PREVIEW_TIMEOUT = 5.0  # seconds for each request of the preview's read: a registry that hangs must not hold preview long


def _preview_store(repository: str, credentials: Credentials | None):
    from mlenv.oci.registry import RegistryStore

    ref = parse_repository(repository)
    return open_store(ref) if ref.is_layout else RegistryStore(ref.host, ref.path, credentials, timeout=PREVIEW_TIMEOUT)


def resolve_lock(spec: EnvironmentSpec, repository: str, credentials: Credentials | None = None,
                 index: IndexSettings | None = None, log: Callable[[str], None] = lambda line: None):
    """What a build of `spec` would install, resolved and not built (`mlenv lock`): the `Lock` and
    rattler's conda records. Only for the daemonless builder: a Dockerfile's own steps lock nothing."""
    from contextlib import ExitStack

    from mlenv.builders.daemonless import resolve_environment
    from mlenv.definition.model import builder_of
    from mlenv.definition.rules import findings
    from mlenv.diagnostics.errors import SpecError

    findings(spec, building=True).raise_first()
    if builder_of(spec) == "docker":
        raise SpecError("lock", "a Dockerfile, build context or Docker steps install what their own steps say: there is nothing for mlenv to lock",
                        "lock a definition of base image + conda and/or pip packages")
    request = _request(spec, repository, credentials, index, log)
    try:
        with ExitStack() as resources:
            resolved = resolve_environment(request, resources)
    except BuildError as error:
        raise diagnosed(error, request.log) from None
    return resolved.lock, resolved.conda_records


def _request(spec: EnvironmentSpec, repository: str, credentials, index, log) -> BuildRequest:
    """The build request both `build` and `resolve_lock` start from: the definition's hash, the index
    with the definition's own options applied, and a build log that hides every secret in play."""
    from mlenv.builders.request import BuildRequest

    hash_hex = definition_hash(spec)
    index = (index or index_settings()).for_definition(spec.pip)
    buildlog = BuildLog(hash_hex[:12], echo=log, secrets=[credentials.password if credentials else "", *index.secrets(), *_channel_secrets(spec)])
    return BuildRequest(spec=spec, target=parse_repository(repository), definition_hash=hash_hex, credentials=credentials, index=index, log=buildlog)


def _channel_secrets(spec: EnvironmentSpec) -> list[str]:
    if not (spec.conda and spec.conda.channels):
        return []  # no conda import for pip-only definitions
    from mlenv.resolve.conda_channels import channel_secrets

    return channel_secrets(spec.conda)


def diagnosed(error: BuildError, buildlog: BuildLog) -> BuildError:
    """The error with its diagnosis and evidence, the whole log saved beside it."""
    from mlenv.diagnostics.diagnose import diagnose

    buildlog.add_output(error.output)
    buildlog.add_output(f"error: {error.headline}")  # into the saved log for `mlenv diagnose`; not echoed: the caller prints the error once
    path = buildlog.save()
    found = diagnose(buildlog.text(), limit=50, secrets=buildlog.secrets)
    chosen = next((d for d in found if d.rule.id == error.rule), None if error.rule else found[0])
    lines = chosen.evidence if chosen else list(enumerate(buildlog.lines, start=1))
    evidence = [(n, line) for n, line in lines if _telling(line)]
    evidence = evidence if chosen else evidence[-4:]
    return error.with_details(rule=error.rule or chosen.rule.id, evidence=evidence, log_path=str(path))


def _telling(line: str) -> bool:
    """Evidence worth showing: not the error itself (printed already), not progress counts."""
    return not line.startswith(("error: ", "progress: "))


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
    return BuildResult(image_ref=f"{repository}@{digest}", digest=digest, tag=tag, tag_ref=f"{repository}:{tag}", definition_hash=hash_hex,
                       lock_hash=annotations.get(img.LOCK_HASH, ""), packages=packages, cache_hit=True, bytes_pushed=0)


def exists(repository: str, digest: str, credentials: Credentials | None = None) -> bool:
    """Whether the image is still in the registry (what `pulumi refresh` asks)."""
    store = open_store(parse_repository(repository), credentials)
    try:
        return store.has_manifest(digest)
    finally:
        store.close()


def _build_and_publish(request: BuildRequest, target, tag: str) -> BuildResult:
    """Build the parts with the definition's builder, then give them their identity (lock hash,
    labels, annotations) the same way for every builder, verify, publish, tag."""
    # Imported here so a cache hit (the common case) never pays for the build stages' imports.
    from mlenv.builders import builder_for
    from mlenv.builders.checkout import source_annotations
    from mlenv.builders.verify import verify_parts
    from mlenv.oci.publish import publish
    from mlenv.catalogue.artifact import attach
    from mlenv.identity.canonical import to_mapping
    from mlenv.oci.uploads import BlobUploads
    from mlenv.resolve.lock import lock_bytes, lock_hash

    spec = request.spec
    # The pushes start while the builder works: it hands over the base once resolved, each layer once packed.
    uploads = BlobUploads(target)
    with uploads, builder_for(spec).build(replace(request, on_layer=uploads.layer, on_base=uploads.base)) as parts:
        locked = lock_hash(parts.lock)
        labels = {img.DEFINITION_HASH: request.definition_hash, img.LOCK_HASH: locked}
        created = parts.created or img.CREATED
        config = img.labelled(img.dated(parts.config, created, parts.base), labels)
        manifest = img.build_manifest(parts.base, config, list(parts.layers),
                                      {**labels, img.PACKAGES: json.dumps(parts.packages), img.CREATED_AT: created,
                                       **source_annotations(spec.origin or ".")})  # from program code: the program's folder
        if spec.verify and not parts.verified:
            verify_parts(parts, config, request)
        report = publish(target, base=parts.base, base_store=parts.base_store, layers=list(parts.layers),
                         config=config, manifest=manifest, tag=tag, uploads=uploads)
        attach(target, manifest, to_mapping(spec), lock_bytes(parts.lock))  # the image carries its definition and lock
    request.log(f"pushed {report.bytes_pushed} bytes ({report.blobs_uploaded} uploaded, {report.blobs_mounted} mounted, {report.blobs_present} already there)")
    layer_info = [{"digest": layer.digest, "size": layer.size, "created_by": layer.created_by} for layer in parts.layers]
    return BuildResult(image_ref=f"{request.target.repository}@{report.digest}", digest=report.digest, tag=tag, tag_ref=f"{request.target.repository}:{tag}",
                       definition_hash=request.definition_hash, lock_hash=locked, packages=parts.packages,
                       cache_hit=False, bytes_pushed=report.bytes_pushed, layers=layer_info)
