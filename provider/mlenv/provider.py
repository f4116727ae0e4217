"""The Pulumi dynamic provider: a thin shell over `mlenv.pipeline`.

Pickled by reference into every resource's `__provider` input, so it holds no state, clients or
credentials; each call opens what it needs. Bad input comes back as CheckFailures in preview; a
failed build raises one `MlenvError` whose text is the explanation, not a traceback.
"""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import contextmanager
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from .auth import Credentials
from .canonical import canonical_definition
from .errors import MlenvError, SpecError
from .hashing import definition_hash, tag_for
from .pipeline import build, exists
from .reference import parse_repository
from .spec import KNOWN_FIELDS, from_mapping

DEFINITION_FIELDS = ("image", "pip", "variables")
METADATA_FIELDS = ("env_name", "description")
CREDENTIAL_FIELDS = ("registry_username", "registry_password")
OUTPUT_FIELDS = ("image_ref", "digest", "tag", "definition_hash", "lock_hash", "packages", "cache_hit", "bytes_pushed")


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
    `traceback.format_exc()`, which honours sys.tracebacklimit."""
    try:
        yield
    except MlenvError as error:
        sys.tracebacklimit = 0
        raise error.with_details() from None


def _spec_from(props: dict):
    data = {k: props.get(k) for k in DEFINITION_FIELDS if props.get(k) is not None}
    data["name"] = props.get("env_name") or ""
    data["description"] = props.get("description") or ""
    return from_mapping(data)


def _credentials(props: dict) -> Credentials | None:
    username = props.get("registry_username") or os.environ.get("MLENV_REGISTRY_USERNAME")
    password = props.get("registry_password") or os.environ.get("MLENV_REGISTRY_PASSWORD")
    return Credentials(username, password) if username and password else None


class EnvironmentProvider(ResourceProvider):
    """CRUD for `pulumi_mlenv.Environment`; the definition hash decides everything."""

    serialize_as_secret_always = False  # it captures nothing secret

    def check(self, _olds: dict, news: dict) -> CheckResult:
        if any(_is_unknown(news.get(k)) for k in (*DEFINITION_FIELDS, "repository")):
            return CheckResult(news, [])  # preview with values not yet known: checked again at up
        failures = _credential_failures(news)
        try:
            spec = _spec_from(news)
        except SpecError as error:
            return CheckResult(news, failures + [CheckFailure(_top_field(error.where), str(error))])
        try:
            parse_repository(news.get("repository") or "")
        except SpecError as error:
            failures.append(CheckFailure("repository", str(error)))
        checked = dict(news)
        canonical = canonical_definition(spec)
        checked["pip"] = canonical["pip"]
        checked["variables"] = canonical["variables"]
        checked["definition_hash"] = definition_hash(spec)
        checked["tag"] = tag_for(checked["definition_hash"])
        return CheckResult(checked, failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["repository"] if _changed(olds, news, "repository") else []
        definition = news.get("definition_hash")
        if definition is None or _is_unknown(definition):
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        changed = [k for k in ("definition_hash", *DEFINITION_FIELDS, *METADATA_FIELDS) if _changed(olds, news, k)]
        return DiffResult(changes=bool(changed or replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        with _explained():
            outs = self._build(props)
        return CreateResult(id_=uuid.uuid4().hex, outs=outs)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        if olds.get("definition_hash") == news.get("definition_hash") and olds.get("repository") == news.get("repository"):
            kept = {k: olds[k] for k in OUTPUT_FIELDS if k in olds}
            return UpdateResult(outs={**_public_inputs(news), **kept, "cache_hit": True, "bytes_pushed": 0})
        with _explained():
            return UpdateResult(outs=self._build(news))

    def read(self, id_: str, props: dict) -> ReadResult:
        if not props.get("digest"):
            return ReadResult(id_, props)
        with _explained():
            present = exists(props["repository"], props["digest"], _credentials(props))
        return ReadResult(id_ if present else "", props if present else {})

    def delete(self, _id: str, _props: dict) -> None:
        """Images are content-addressed and may be shared by other stacks: retained."""

    def _build(self, props: dict) -> dict:
        result = build(_spec_from(props), props["repository"], _credentials(props))
        return {**_public_inputs(props), **result.outputs()}


def _public_inputs(props: dict) -> dict:
    return {k: v for k, v in props.items() if k not in CREDENTIAL_FIELDS and not k.startswith("__")}


def _changed(olds: dict, news: dict, key: str) -> bool:
    return (olds.get(key) or None) != (news.get(key) or None)


def _credential_failures(news: dict) -> list[CheckFailure]:
    username, password = news.get("registry_username"), news.get("registry_password")
    if bool(username) == bool(password):
        return []
    missing = "registry_password" if username else "registry_username"
    return [CheckFailure(missing, f"{missing}: registry credentials need both a username and a password. Fix: set {missing} too (the password as a secret: pulumi config set --secret), or neither")]


def _top_field(where: str) -> str:
    head = where.split(".")[0].split("[")[0].split(" ")[0]
    return {"name": "env_name"}.get(head, head if head in KNOWN_FIELDS else "image")
