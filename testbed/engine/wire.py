"""Values on the wire: unknowns and secrets, and property maps <-> protobuf `Struct`.

Split out of `testbed.engine` (import from there); see its docstring for the wire facts.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from google.protobuf import struct_pb2

import pulumi.output
from pulumi.runtime import rpc

UNKNOWN = pulumi.output.UNKNOWN
"""An input value that is not known yet (preview).  Serialized as the wire sentinel `WIRE_UNKNOWN`."""

WIRE_UNKNOWN = rpc.UNKNOWN
"""The sentinel string the engine puts on the wire for an unknown value."""

Unknown = pulumi.output.Unknown


def is_unknown(value: Any) -> bool:
    """True for `pulumi.output.Unknown` (what deserialization yields) or the wire sentinel string."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == WIRE_UNKNOWN)


def _contains(value: Any, predicate) -> bool:
    """Whether predicate holds for value or anything nested in its dicts and lists."""
    if predicate(value):
        return True
    if isinstance(value, dict):
        return any(_contains(v, predicate) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains(v, predicate) for v in value)
    return False


def contains_unknowns(value: Any) -> bool:
    return _contains(value, is_unknown)


def secret(value: Any) -> dict:
    """The engine's wire form of a secret: `{"4dabf1...": "1b4706...", "value": value}`."""
    return rpc.wrap_rpc_secret(value)


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def contains_secrets(value: Any) -> bool:
    return _contains(value, is_secret)


def reveal(value: Any) -> Any:
    """Remove every secret wrapper, recursively (what the engine's `KeepSecrets=false` marshaling does)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    if isinstance(value, tuple):
        return tuple(reveal(v) for v in value)
    return value


def annotate_secrets(outs: Optional[dict], ins: Optional[dict]) -> Optional[dict]:
    """The engine's `annotateSecrets`: a result key whose request counterpart held a secret comes
    back secret.  Objects on both sides are walked; anything else is wrapped whole."""
    if outs is None or ins is None:
        return outs
    result = dict(outs)
    for key, in_value in ins.items():
        if key not in result:
            continue
        out_value = result[key]
        if _is_object(out_value) and _is_object(in_value):
            result[key] = annotate_secrets(out_value, in_value)
        elif not is_secret(out_value) and contains_secrets(in_value):
            result[key] = secret(out_value)
    return result


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_secret(value)


def _run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def to_struct(props: Optional[dict]) -> struct_pb2.Struct:
    """Plain dict -> protobuf Struct, via `rpc.serialize_properties` (None values are dropped)."""
    if not props:
        return struct_pb2.Struct()
    return _run(rpc.serialize_properties(props, {}))


def from_struct(struct: struct_pb2.Struct) -> dict:
    return rpc.deserialize_properties(struct, keep_unknowns=True)
