"""A tiny dynamic provider for proving `testbed.engine` (pickled by reference: keep it importable).

Every call appends one JSON line to `<dir>/calls.jsonl` (`dir` is an input), so a test can see
which methods ran, in which order, with what.  Inputs:

    dir    where the journal, the create counter and "gone" markers live
    text   required, non-empty; check adds `length`
    kind   changing it forces a replacement
    dbr    ask for delete-before-replace
    fail   name of a method ("check", "create", ...) that raises RuntimeError
    quiet  set sys.tracebacklimit = 0 before raising (and raise `from None`)
    lazy   diff answers DIFF_UNKNOWN (DiffResult() with changes=None) and lets the engine decide
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

WIRE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def describe(value: Any) -> dict:
    """What a value looked like on the provider's side of the wire."""
    from pulumi.runtime import rpc

    return {
        "type": type(value).__name__,
        "module": type(value).__module__,
        "is_output_unknown": type(value).__name__ == "Unknown",
        "is_wire_sentinel": isinstance(value, str) and value == WIRE_UNKNOWN,
        "is_wire_secret": rpc.is_rpc_secret(value),
        "repr": repr(value) if type(value).__name__ != "Unknown" else "Unknown",
    }


def _journal(source: dict, op: str, **fields) -> None:
    directory = source.get("dir")
    if not isinstance(directory, str):
        return
    with open(Path(directory) / "calls.jsonl", "a") as fh:
        fh.write(json.dumps({"op": op, **fields}, default=repr) + "\n")


def _maybe_fail(props: dict, op: str) -> None:
    if props.get("fail") != op:
        return
    message = f"sample {op} refused: {props.get('text')!r}"
    if props.get("quiet"):
        sys.tracebacklimit = 0
        raise RuntimeError(message) from None
    raise RuntimeError(message)


def _shape(props: dict) -> dict:
    return {k: describe(v) for k, v in props.items() if k != "__provider"}


class SampleProvider(ResourceProvider):
    def check(self, olds: dict, news: dict) -> CheckResult:
        _journal(news, "check", olds=sorted(k for k in olds if k != "__provider"), news=_shape(news))
        _maybe_fail(news, "check")
        text = news.get("text")
        if text is not None and type(text).__name__ == "Unknown":
            return CheckResult({**news, "length": text}, [])  # unknown in, unknown out
        if not text:
            return CheckResult(news, [CheckFailure("text", "text must not be empty")])
        return CheckResult({**news, "length": len(text)}, [])

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        _journal(news, "diff", id=id_, olds=sorted(k for k in olds if k != "__provider"), news=_shape(news))
        _maybe_fail(news, "diff")
        if news.get("lazy"):
            return DiffResult()
        replaces = ["kind"] if olds.get("kind") != news.get("kind") else []
        changes = bool(replaces) or olds.get("text") != news.get("text")
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=bool(news.get("dbr")))

    def create(self, props: dict) -> CreateResult:
        _maybe_fail(props, "create")
        counter = Path(props["dir"]) / "counter"
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        id_ = f"res-{n}"
        _journal(props, "create", id=id_, props=_shape(props))
        return CreateResult(id_, {**props, "serial": n})

    def read(self, id_: str, props: dict) -> ReadResult:
        _journal(props, "read", id=id_)
        _maybe_fail(props, "read")
        if (Path(props["dir"]) / f"gone-{id_}").exists():
            # outs must be a dict even when gone: the host does `outs["__provider"] = ...`.
            return ReadResult("", {})
        return ReadResult(id_, props)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        _journal(news, "update", id=id_, olds=sorted(k for k in olds if k != "__provider"), news=_shape(news))
        _maybe_fail(news, "update")
        return UpdateResult({**news, "serial": olds.get("serial")})

    def delete(self, id_: str, props: dict) -> None:
        _journal(props, "delete", id=id_)
        _maybe_fail(props, "delete")
