"""The Pulumi dynamic provider: a thin shell over `mlenv.pipeline`.

Pickled by reference into every resource's `__provider` input, so it holds no state, clients or
credentials; each call opens what it needs (create reuses, in memory, the definition check loaded
in the same process, so its files are read once). Bad input comes back as CheckFailures in preview; a
failed build raises one `MlenvError` whose text is the explanation, not a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from mlenv.digests import sha256_hex
from mlenv.oci.auth import Credentials
from mlenv.identity.canonical import to_mapping
from mlenv.diagnostics.errors import MlenvError, SpecError
from mlenv.diagnostics.last_resort import last_resort
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.pipeline import build, exists, plan_registration
from mlenv.definition.reference import parse_repository
from mlenv.definition.azureml_v1 import SAVED_SOURCE
from mlenv.definition.load import TOP_FIELDS, from_mapping
from mlenv.definition.model import CREDENTIAL_PROPERTIES, DEFINITION_PROPERTIES, LABELS_PROPERTY, METADATA_PROPERTIES, OUTPUT_PROPERTIES, SOURCE_PROPERTY
from mlenv.settings import registry_credentials

# The provider's inputs are the definition in its normalized input form (canonical.to_mapping), with
# the environment's own name as env_name (the resource has a name of its own), plus where to publish.

# What `up` will register, said by check in the checked inputs, which are what `pulumi preview` shows
# of a resource it will create or update; never an output (it would go stale at once).
PLAN_PROPERTY = "version_plan"
# The labels this resource set: its `labels` input at its last up. A label leaving that input is
# removed from the registry, if it still names this resource's image; one moved since is not ours.
OWNED_LABELS = "owned_labels"


def _is_unknown(value: Any) -> bool:
    from pulumi.runtime import rpc

    if value is rpc.UNKNOWN or value == rpc.UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_unknown(v) for v in value)
    return type(value).__name__ == "Unknown"


@contextmanager
def _explained():
    """Let an MlenvError reach `pulumi up` as its message alone: the dynamic provider host prints
    `traceback.format_exc()`, which honours sys.tracebacklimit. Anything unexpected arrives as the
    one-line InternalError (its traceback saved to a log file), so also as a message alone."""
    try:
        with last_resort():
            yield
    except MlenvError as error:
        sys.tracebacklimit = 0
        raise error.with_details() from None


def _spec_from(props: dict):
    """Any field of the definition schema is accepted as an input (conda_file, environment_variables…);
    check then replaces them by the normalized form. A definition the SDK read from a file the v1 SDK
    saved says so (`definition_source`), for the rules that treat such a file differently."""
    accepted = (*(k for k in TOP_FIELDS if k != "name"), "env_name")
    data = {k: props[k] for k in accepted if props.get(k) is not None}
    if "env_name" in data:
        data["name"] = data.pop("env_name")
    password = props.get("base_image_registry_password")
    if password:
        docker = dict(data.get("docker") or {})
        docker["base_image_registry"] = {**(docker.get("base_image_registry") or {}), "password": password}
        data["docker"] = docker
    spec = from_mapping(data)
    return replace(spec, source=SAVED_SOURCE) if props.get(SOURCE_PROPERTY) == SAVED_SOURCE else spec


# The definitions check loaded, by their checked inputs: the engine hands exactly those to create or
# update in the same provider process (one deployment), which then builds what check read and hashed
# instead of reading every file again. Memory only, never pickled; a miss loads from the inputs.
_CHECKED: OrderedDict = OrderedDict()
_CHECKED_KEPT = 32


def _remember(inputs: dict, spec) -> None:
    _CHECKED[_inputs_key(inputs)] = spec
    while len(_CHECKED) > _CHECKED_KEPT:
        _CHECKED.popitem(last=False)


def _spec_for_build(props: dict):
    return _CHECKED.pop(_inputs_key(props), None) or _spec_from(props)


def _inputs_key(props: dict) -> str:
    """A digest of what `_spec_from` reads (and the hash check gave it), numbers as the wire leaves
    them (an int comes back as a float), relative paths with the directory they are relative to."""
    fields = sorted({*TOP_FIELDS, "env_name", "base_image_registry_password", "definition_hash", SOURCE_PROPERTY})
    data = {k: _plain(props[k]) for k in fields if props.get(k) is not None}
    return sha256_hex(json.dumps([os.getcwd(), data], sort_keys=True, default=repr).encode())


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _checked_inputs(news: dict, spec) -> dict:
    mapping = to_mapping(spec)
    mapping.pop("name", None)
    kept = {k: v for k, v in news.items() if k.startswith("__") or k in ("repository", SOURCE_PROPERTY, LABELS_PROPERTY, *CREDENTIAL_PROPERTIES)}
    hash_hex = definition_hash(spec)
    return {**kept, **mapping, **({"env_name": spec.name} if spec.name else {}), "definition_hash": hash_hex, "tag": tag_for(hash_hex)}


def _credentials(props: dict) -> Credentials | None:
    return registry_credentials(props.get("registry_username"), props.get("registry_password"))


class EnvironmentProvider(ResourceProvider):
    """CRUD for `pulumi_mlenv.Environment`; the definition hash decides everything."""

    serialize_as_secret_always = False  # it captures nothing secret

    @_explained()
    def check(self, _olds: dict, news: dict) -> CheckResult:
        if any(_is_unknown(v) for k, v in news.items() if not k.startswith("__")):
            return CheckResult(news, [])  # preview with values not yet known: checked again at up
        from mlenv.definition.rules import findings

        failures = _credential_failures(news)
        try:
            parse_repository(news.get("repository") or "")
        except SpecError as error:
            failures.append(CheckFailure("repository", str(error)))
        try:
            spec = _spec_from(news)
        except SpecError as error:
            return CheckResult(news, failures + [CheckFailure(_top_field(error.where), str(error))])
        failures += [CheckFailure(_top_field(error.where), str(error)) for error in findings(spec, building=True).errors]
        inputs = _checked_inputs(news, spec)
        if not failures and _same_registration(_olds, inputs):
            inputs.update({k: _olds[k] for k in (PLAN_PROPERTY, "name", "version") if k in _olds})
        elif not failures:
            failures += _planned(inputs, spec, _credentials(news))
        if not failures:
            _remember(inputs, spec)
        return CheckResult(inputs, failures)

    @_explained()
    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["repository"] if _changed(olds, news, "repository") else []
        definition = news.get("definition_hash")
        if definition is None or _is_unknown(definition):
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        changed = [k for k in ("definition_hash", *DEFINITION_PROPERTIES, *METADATA_PROPERTIES) if k != "version" and _changed(olds, news, k)]
        owners = set(news.get(LABELS_PROPERTY) or ()) != set(olds.get(OWNED_LABELS) or ())
        return DiffResult(changes=bool(changed or replaces or owners or _catalogue_changed(olds, news)), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        with _explained():
            outs = self._build(props)
        return CreateResult(id_=uuid.uuid4().hex, outs=outs)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        rebuild = any(_changed(olds, news, k) for k in ("definition_hash", "repository", "env_name")) or _catalogue_changed(olds, news)
        with _explained():
            if _release(olds, news) or rebuild:  # after a release, the build's cache hit reads the labels as they now are
                return UpdateResult(outs=self._build(news))
        kept = {k: olds[k] for k in OUTPUT_PROPERTIES if k in olds}
        return UpdateResult(outs={**_public_inputs(news), **kept, "cache_hit": True, "bytes_pushed": 0, OWNED_LABELS: sorted(news.get(LABELS_PROPERTY) or ())})

    def read(self, id_: str, props: dict) -> ReadResult:
        if not props.get("digest"):
            return ReadResult(id_, props)
        with _explained():
            present = exists(props["repository"], props["digest"], _credentials(props))
        return ReadResult(id_ if present else "", props if present else {})

    def delete(self, _id: str, _props: dict) -> None:
        """Images are content-addressed and may be shared by other stacks, versions are immutable:
        both retained."""

    def _build(self, props: dict) -> dict:
        labels = tuple(props.get(LABELS_PROPERTY) or ())
        result = build(_spec_for_build(props), props["repository"], _credentials(props), log=_progress, labels=labels)
        return {**_public_inputs(props), **result.outputs(), OWNED_LABELS: sorted(labels) if result.name else []}


def _same_registration(olds: dict, inputs: dict) -> bool:
    """Nothing changed since the last up: that up registered this very definition, nothing will be
    registered and preview shows no change, so the registry is not asked (a no-op stays cheap)."""
    if not olds or PLAN_PROPERTY not in olds:
        return False
    planned = (PLAN_PROPERTY, "name", "version", "__provider")
    keys = (set(olds) | set(inputs)) - set(planned)
    return all(olds.get(k) == inputs.get(k) for k in keys) and inputs.get("version") in (None, "", olds.get("version"))


def _planned(inputs: dict, spec, credentials) -> list[CheckFailure]:
    """What up will register, into the checked inputs (so `pulumi preview` shows it) and the
    provider's log: `version_plan` says it; `name` is known, and `version` too when the definition
    already holds one. One read of the registry's tags; one it cannot read is said, not failed."""
    try:
        found, said = plan_registration(spec, inputs["repository"], credentials)
    except SpecError as error:
        return [CheckFailure(_top_field(error.where), str(error))]
    _progress(said)
    inputs[PLAN_PROPERTY] = said
    if found:
        inputs["name"] = found.name
        if found.held and not inputs.get("version"):
            inputs["version"] = found.version
    return []


def _release(olds: dict, news: dict) -> tuple[str, ...]:
    """Remove from the registry the labels this resource set at its last up and no longer asks for
    (all of them when it registers under another name now), where they still name its image; the
    labels it no longer asks for."""
    from mlenv.catalogue.reads import release_labels
    from mlenv.catalogue.tags import anonymous_name
    from mlenv.oci.store import open_store

    name, owned = olds.get("name") or olds.get("env_name"), olds.get(OWNED_LABELS) or ()
    moved = (news.get("name") or news.get("env_name") or anonymous_name(news.get("definition_hash") or "")) != name
    dropped = tuple(owned if moved else sorted(set(owned) - set(news.get(LABELS_PROPERTY) or ())))
    if not (name and dropped and olds.get("digest")):
        return ()

    store = open_store(parse_repository(olds["repository"]), _credentials(news))
    try:
        released = release_labels(store, name, dropped, olds["digest"])
    finally:
        store.close()
    kept = [label for label in dropped if label not in released]
    _progress(f"labels removed from {name}: {', '.join(released) or '-'}" + (f"; left where someone moved them since: {', '.join(kept)}" if kept else ""))
    return dropped


def _catalogue_changed(olds: dict, news: dict) -> bool:
    """The outputs `version` and `labels` share their names with inputs (an explicit version, the
    labels to set): changed only when the inputs ask for what the outputs do not hold."""
    explicit = news.get("version")
    return bool((explicit and explicit != olds.get("version")) or set(news.get(LABELS_PROPERTY) or ()) - set(olds.get(LABELS_PROPERTY) or ()))


def _progress(line: str) -> None:
    """Build progress (already redacted): the engine shows a provider's standard error lines in the
    `pulumi up` output, and the whole log is saved to a file either way."""
    print(f"mlenv: {line}", file=sys.stderr, flush=True)


def _public_inputs(props: dict) -> dict:
    return {k: v for k, v in props.items() if k not in (*CREDENTIAL_PROPERTIES, PLAN_PROPERTY) and not k.startswith("__")}


def _changed(olds: dict, news: dict, key: str) -> bool:
    return (olds.get(key) or None) != (news.get(key) or None)


def _credential_failures(news: dict) -> list[CheckFailure]:
    username, password = news.get("registry_username"), news.get("registry_password")
    if bool(username) == bool(password):
        return []
    missing = "registry_password" if username else "registry_username"
    return [CheckFailure(missing, f"{missing}: registry credentials need both a username and a password. Fix: set {missing} too (the password as a secret: pulumi config set --secret), or neither")]


def _top_field(where: str) -> str:
    """The input property a failure belongs to (`pip (requirements.txt:3)` → `pip`)."""
    head = where.split(".")[0].split("[")[0].split(" ")[0]
    head = {"name": "env_name", "conda_file": "conda", "environment_variables": "variables"}.get(head, head)
    return head if head in (*DEFINITION_PROPERTIES, *METADATA_PROPERTIES, "repository") else "image"
