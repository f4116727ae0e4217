"""Drive a Pulumi *dynamic provider* the way the Pulumi engine does: real process, real gRPC.

There is no Pulumi CLI/engine in the test environment, so this module plays the engine's part:

* `ProviderProcess` launches `python -m pulumi.dynamic` (what the `pulumi-resource-pulumi-python`
  plugin script runs), reads the port from the first stdout line, and speaks the
  `pulumirpc.ResourceProvider` protocol to it: Handshake (the dynamic host answers UNIMPLEMENTED, and
  the engine falls back, as here), GetPluginInfo, Configure once, then Check/Diff/Create/Update/
  Read/Delete.  Arguments and results are plain Python dicts, (de)serialized with
  `pulumi.runtime.rpc` exactly as the two ends of the wire do.
* `Stack` plays the step generator for one resource at a time: what `pulumi up`, `pulumi preview`,
  `pulumi refresh` and `pulumi destroy` send, in which order, with which olds.

Wire facts this module relies on (read from pulumi's Python host and the engine's
`provider_plugin.go` / `step_generator.go`):

Unknowns
    The engine marks "not known yet" (preview only: `KeepUnknowns = AllowUnknowns`) with the string
    sentinel `rpc.UNKNOWN` ("04da6b54-...").  The dynamic host deserializes Check and Diff with
    `keep_unknowns=True`, so **a dynamic provider's `check`/`diff` receive `pulumi.output.Unknown`
    instances, never the sentinel string**.  Create/Update/Read/Delete deserialize without
    keep_unknowns (the engine never sends unknowns there): an unknown would become None and the key
    would vanish.  Pass the module constant `UNKNOWN` (the `pulumi.output.UNKNOWN` singleton, which
    `serialize_properties` turns into the sentinel) wherever the program would have an unresolved
    Output; results come back with `Unknown` objects (`is_unknown()` tests for both forms).

Secrets
    The engine holds secrets as `{"4dabf1...": "1b4706...", "value": v}` (`secret()` builds this wire
    form).  Configure tells the engine whether the provider understands that form: the Python
    dynamic host answers `acceptSecrets=False`, so the engine marshals every request with
    `KeepSecrets=false`, i.e. **it strips the wrapper and the dynamic provider receives the plain
    value** (it cannot tell a secret input from a plain one).  The engine then re-marks results:
    any checked input / output whose top-level key held a secret in the request comes back secret
    (`annotateSecrets`).  `ProviderProcess` does both, keyed on the provider's own Configure answer
    (`keep_secrets` can be forced to True to see what a provider would get if the wrapper were
    sent: a plain dict carrying the signature key, since `deserialize_properties` keeps it as
    `wrap_rpc_secret(...)`).  `dynamic.Resource` itself wraps `__provider` with
    `Output.secret` unless the provider sets `serialize_as_secret_always = False`; `Stack` mirrors
    that.

Numbers
    `google.protobuf.Struct` numbers are doubles: an int input reaches the provider as a float
    (`3` -> `3.0`), and ints in outputs come back as floats too.

Errors
    Every CRUD method of the dynamic host is wrapped in `_abort_with_traceback`:
    `context.abort(StatusCode.UNKNOWN, traceback.format_exc())`.  The gRPC details (and so what
    `pulumi up` prints, and `ProviderError.details`) are the whole formatted traceback ending in
    `Type: message`.  `traceback.format_exc()` honours `sys.tracebacklimit`; with it set to 0 in the
    provider before raising, the frames *and* the "Traceback (most recent call last):" header
    disappear, leaving `"Type: message\\n"` -- but only for an exception with no implicit context
    (raise it `from None`, or outside an `except` block), and the setting then sticks for every
    later error in that provider process.  Check failures are not errors: they come back in
    `CheckResponse.failures` and `Stack` reports them as `op == "failed"` with `failures`.

Host quirks (pulumi 3.27x `pulumi/dynamic/__main__.py`)
    * `DiffResult.stables` is dropped, and `diffs`/`detailedDiff` are never sent: the engine only
      learns changes/replaces/deleteBeforeReplace.  `DiffResult()` (changes=None) is DIFF_UNKNOWN,
      on which the engine compares old and new checked inputs itself (`Stack` does the same).
    * `ReadResult(id_="")` must still carry `outs={}`: the host does `outs["__provider"] = ...` and
      a None `outs` turns "gone" into a TypeError.
    * The `news["__provider"] == rpc.UNKNOWN` fallback in Check/Diff never fires (keep_unknowns
      gives an `Unknown` object, not the string); an unknown `__provider` is a TypeError.
    * The host does not unwrap a secret `__provider`, which is one more reason the engine must
      strip secrets for it (forcing `keep_secrets = True` shows "unhashable type: 'dict'").
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import grpc
from google.protobuf import empty_pb2, struct_pb2

import pulumi.output
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]

UNKNOWN = pulumi.output.UNKNOWN
"""An input value that is not known yet (preview).  Serialized as the wire sentinel `WIRE_UNKNOWN`."""

WIRE_UNKNOWN = rpc.UNKNOWN
"""The sentinel string the engine puts on the wire for an unknown value."""

Unknown = pulumi.output.Unknown

DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
"""Type token of a plain `pulumi.dynamic.Resource`; a subclass declared with
`class X(Resource, module="m", name="N")` registers `pulumi-python:dynamic/m:N`."""

DIFF_UNKNOWN = provider_pb2.DiffResponse.DIFF_UNKNOWN
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME
_CHANGES_NAMES = {DIFF_UNKNOWN: "unknown", DIFF_NONE: "none", DIFF_SOME: "some"}


# --------------------------------------------------------------------------------------------
# Values: unknowns and secrets
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class ProviderError(Exception):
    """A gRPC error from the provider.  `details` is the provider's text (for the dynamic host: the
    formatted traceback of the exception its method raised)."""

    def __init__(self, code: grpc.StatusCode, details: str, method: str = ""):
        super().__init__(details)
        self.code = code
        self.details = details or ""
        self.method = method

    def __str__(self) -> str:
        return self.details


class EngineError(Exception):
    """Something the engine itself rejects (e.g. Create returning an empty ID)."""


class ProviderStartError(RuntimeError):
    pass


@dataclass
class DiffResult:
    """The DiffResponse, decoded.  `changes` is one of DIFF_UNKNOWN / DIFF_NONE / DIFF_SOME."""

    changes: int
    replaces: list[str] = field(default_factory=list)
    stables: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    diffs: list[str] = field(default_factory=list)
    detailed_diff: dict[str, dict] = field(default_factory=dict)

    @property
    def changes_name(self) -> str:
        return _CHANGES_NAMES.get(self.changes, str(self.changes))


@dataclass
class ReadResult:
    id: str
    outputs: dict
    inputs: Optional[dict]  # None when the provider did not return inputs (engine keeps the old ones)


@dataclass
class StepResult:
    """What one `up`/`preview`/`refresh`/`destroy` did for one resource.

    op: 'create' | 'same' | 'update' | 'replace' | 'delete' | 'failed'
    """

    op: str
    outputs: Optional[dict] = None
    checked_inputs: Optional[dict] = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    diff: Optional[DiffResult] = None
    error: Optional[str] = None
    id: Optional[str] = None


# --------------------------------------------------------------------------------------------
# The provider process
# --------------------------------------------------------------------------------------------


# The engine's client side: 400 MiB messages (rpcutil.GrpcChannelOptions) and Go gRPC's 16 MiB
# header-list limit.  Python's default (8 KiB soft / 16 KiB hard) would turn a provider error whose
# traceback exceeds 16 KiB into RESOURCE_EXHAUSTED "received metadata size exceeds hard limit",
# losing the provider's text, which the real engine would have shown.
_MAX_METADATA = 16 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
    ("grpc.max_metadata_size", _MAX_METADATA),
    ("grpc.absolute_max_metadata_size", _MAX_METADATA),
]


def _urn_parts(urn: str) -> tuple[str, str]:
    """(name, type) of a URN `urn:pulumi:stack::project::[parent$]type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", ""
    return parts[-1], parts[-2].split("$")[-1]


class ProviderProcess:
    """`python -m pulumi.dynamic` under our control, spoken to over gRPC like the engine does.

    Use as a context manager.  `env` is added to the child's environment; `PYTHONPATH` gets the
    repository root so pickled-by-reference providers (`tests.*`, `mlenv.*`) import.
    """

    def __init__(
        self,
        env: Optional[dict[str, str]] = None,
        *,
        project: str = "mlenv",
        config: Optional[dict[str, Any]] = None,
        startup_timeout: float = 60.0,
        call_timeout: Optional[float] = None,
        cwd: Optional[os.PathLike] = None,
    ):
        self.extra_env = dict(env or {})
        self.project = project
        self.config = dict(config or {})
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.cwd = Path(cwd) if cwd else REPO_ROOT
        self.port: Optional[int] = None
        self.plugin_version: Optional[str] = None
        self.handshake_supported: Optional[bool] = None
        self.configure_response: Optional[provider_pb2.ConfigureResponse] = None
        self.keep_secrets: bool = False
        """Send secrets in wire form?  Set from Configure's `acceptSecrets` (False for the dynamic host)."""
        self.calls: list[tuple[str, str]] = []
        """(method, urn) for every resource call, in order."""
        self._proc: Optional[subprocess.Popen] = None
        self._channel: Optional[grpc.Channel] = None
        self._stub: Optional[provider_pb2_grpc.ResourceProviderStub] = None
        self._stderr_file = None
        self._stdout_lines: list[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> "ProviderProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("PULUMI_PROJECT", self.project)
        env.setdefault("PULUMI_CONFIG", json.dumps({f"pulumi-python:{k}": v for k, v in self.config.items()}))
        env.update(self.extra_env)
        paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        return env

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("provider process already started")
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=self._environment(),
            cwd=str(self.cwd),
        )
        # Drain stdout for the life of the process (as the engine does): a provider that prints
        # must never block on a full pipe.
        threading.Thread(target=self._pump_stdout, name="provider-stdout", daemon=True).start()
        try:
            self.port = self._await_port()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_CHANNEL_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=self.startup_timeout)
            self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
            self._initialize()
        except BaseException:
            self.close()
            raise

    def _pump_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in iter(self._proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            self._stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _await_port(self) -> int:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderStartError(
                    f"pulumi.dynamic printed no port within {self.startup_timeout:.0f}s\nstderr:\n{self.stderr}"
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if line is None:
                code = self._proc.wait(timeout=5) if self._proc else None
                raise ProviderStartError(f"pulumi.dynamic exited (code {code}) before printing its port\nstderr:\n{self.stderr}")
            text = line.strip()
            if not text.isdigit():
                raise ProviderStartError(f"pulumi.dynamic's first stdout line is not a port: {text!r}\nstderr:\n{self.stderr}")
            return int(text)

    def _initialize(self) -> None:
        # 1. Handshake: newer engines try it first and fall back on UNIMPLEMENTED.
        try:
            self._stub.Handshake(
                provider_pb2.ProviderHandshakeRequest(configure_with_urn=True, supports_views=True),
                timeout=self.startup_timeout,
            )
            self.handshake_supported = True
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise ProviderError(error.code(), error.details(), "Handshake") from None
            self.handshake_supported = False
        # 2. GetPluginInfo.
        info = self._call("GetPluginInfo", empty_pb2.Empty(), log=False)
        self.plugin_version = info.version
        # 3. Configure, once, with the (usually empty) provider config, declaring what the engine
        #    accepts; the answer says what the provider accepts.
        variables = {}
        for key, value in self.config.items():
            variables[f"pulumi-python:config:{key}"] = value if isinstance(value, str) else json.dumps(value)
        response = self._call(
            "Configure",
            provider_pb2.ConfigureRequest(
                variables=variables,
                args=to_struct(self.config),
                acceptSecrets=True,
                acceptResources=True,
                sends_old_inputs=True,
                sends_old_inputs_to_delete=True,
            ),
            log=False,
        )
        self.configure_response = response
        self.keep_secrets = bool(response.acceptSecrets)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        self._stub = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def stderr(self) -> str:
        if self._stderr_file is None:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    @property
    def stdout(self) -> str:
        return "".join(self._stdout_lines)

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, request, *, urn: str = "", log: bool = True):
        if self._stub is None:
            raise RuntimeError("provider process is not running")
        if log:
            self.calls.append((method, urn))
        try:
            return getattr(self._stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as error:
            details = error.details() or ""
            if self._proc is not None and self._proc.poll() is not None:
                details += f"\n[provider process exited with code {self._proc.returncode}]\nstderr:\n{self.stderr}"
            raise ProviderError(error.code(), details, method) from None

    def _out(self, props: Optional[dict]) -> struct_pb2.Struct:
        """Marshal a request property map as the engine does for this provider."""
        props = props or {}
        return to_struct(props if self.keep_secrets else reveal(props))

    def _back(self, struct: struct_pb2.Struct, request_props: Optional[dict]) -> dict:
        """Unmarshal a result property map and restore secretness the provider could not see."""
        result = from_struct(struct)
        return result if self.keep_secrets else annotate_secrets(result, request_props)

    @staticmethod
    def _common(urn: str) -> dict:
        name, typ = _urn_parts(urn)
        return {"urn": urn, "name": name, "type": typ}

    # -- the resource protocol ----------------------------------------------------------------

    def check(
        self, urn: str, olds: Optional[dict], news: dict, *, random_seed: Optional[bytes] = None
    ) -> tuple[dict, list[tuple[str, str]]]:
        """Check(olds = previous *checked inputs* or {}, news = program inputs) -> (inputs, failures)."""
        response = self._call(
            "Check",
            provider_pb2.CheckRequest(
                olds=self._out(olds),
                news=self._out(news),
                randomSeed=random_seed if random_seed is not None else os.urandom(32),
                **self._common(urn),
            ),
            urn=urn,
        )
        inputs = self._back(response.inputs, news)
        failures = [(f.property, f.reason) for f in response.failures]
        return inputs, failures

    def diff(
        self,
        urn: str,
        id: str,
        olds: dict,
        news: dict,
        *,
        old_inputs: Optional[dict] = None,
        ignore_changes: tuple[str, ...] = (),
    ) -> DiffResult:
        """Diff(olds = previous *outputs*, news = checked inputs).  Returns the raw provider answer
        (DIFF_UNKNOWN included); `Stack` applies the engine's fallback for DIFF_UNKNOWN."""
        response = self._call(
            "Diff",
            provider_pb2.DiffRequest(
                id=id,
                olds=self._out(olds),
                news=self._out(news),
                old_inputs=self._out(old_inputs if old_inputs is not None else {}),
                ignoreChanges=list(ignore_changes),
                **self._common(urn),
            ),
            urn=urn,
        )
        detailed = {}
        if response.hasDetailedDiff:
            for key, value in response.detailedDiff.items():
                detailed[key] = {
                    "kind": provider_pb2.PropertyDiff.Kind.Name(value.kind),
                    "input_diff": value.inputDiff,
                }
        return DiffResult(
            changes=response.changes,
            replaces=list(response.replaces),
            stables=list(response.stables),
            delete_before_replace=response.deleteBeforeReplace,
            diffs=list(response.diffs),
            detailed_diff=detailed,
        )

    def create(self, urn: str, props: dict, *, timeout: float = 0, preview: bool = False) -> tuple[str, dict]:
        """Create(properties = checked inputs) -> (id, outputs)."""
        response = self._call(
            "Create",
            provider_pb2.CreateRequest(properties=self._out(props), timeout=timeout, preview=preview, **self._common(urn)),
            urn=urn,
        )
        if not response.id and not preview:
            raise EngineError(f"plugin for package 'pulumi-python' returned empty resource.ID from create '{urn}'")
        return response.id, self._back(response.properties, props)

    def update(
        self, urn: str, id: str, olds: dict, news: dict, *, old_inputs: Optional[dict] = None, timeout: float = 0
    ) -> dict:
        """Update(olds = previous *outputs*, news = checked inputs) -> outputs."""
        response = self._call(
            "Update",
            provider_pb2.UpdateRequest(
                id=id,
                olds=self._out(olds),
                news=self._out(news),
                old_inputs=self._out(old_inputs if old_inputs is not None else {}),
                timeout=timeout,
                **self._common(urn),
            ),
            urn=urn,
        )
        return self._back(response.properties, news)

    def read(self, urn: str, id: str, props: dict, inputs: Optional[dict] = None) -> ReadResult:
        """Read(properties = previous outputs, inputs = previous inputs).  An empty id means gone."""
        request = provider_pb2.ReadRequest(id=id, properties=self._out(props), **self._common(urn))
        if inputs is not None:
            request.inputs.CopyFrom(self._out(inputs))
        response = self._call("Read", request, urn=urn)
        new_inputs = self._back(response.inputs, inputs) if response.HasField("inputs") else None
        return ReadResult(id=response.id, outputs=self._back(response.properties, props), inputs=new_inputs)

    def delete(self, urn: str, id: str, props: dict, *, old_inputs: Optional[dict] = None, timeout: float = 0) -> None:
        """Delete(properties = previous outputs, old_inputs = previous inputs)."""
        self._call(
            "Delete",
            provider_pb2.DeleteRequest(
                id=id,
                properties=self._out(props),
                old_inputs=self._out(old_inputs if old_inputs is not None else {}),
                timeout=timeout,
                **self._common(urn),
            ),
            urn=urn,
        )


# --------------------------------------------------------------------------------------------
# The step generator, one resource at a time
# --------------------------------------------------------------------------------------------


def _changed_keys(olds: dict, news: dict) -> list[str]:
    return sorted(k for k in set(olds) | set(news) if k not in olds or k not in news or olds[k] != news[k])


def _failure_text(failures: list[tuple[str, str]]) -> str:
    return "; ".join(f"{prop}: {reason}" if prop else reason for prop, reason in failures)


class Stack:
    """What the engine does per resource for up / preview / refresh / destroy.

    `state` maps resource name -> {"id", "inputs" (checked inputs), "outputs"}, like a checkpoint.
    Provider and engine errors never escape `up`/`refresh`/`destroy`: they come back as
    `StepResult(op="failed", error=text)`, leaving the state as the engine would.
    """

    def __init__(
        self,
        process: ProviderProcess,
        *,
        type_token: str = DYNAMIC_TYPE,
        stack: str = "test",
        project: str = "mlenv",
    ):
        self.process = process
        self.type_token = type_token
        self.stack = stack
        self.project = project
        self.state: dict[str, dict[str, Any]] = {}
        self.pending_deletes: list[dict[str, Any]] = []
        """Old resources a create-before-delete replacement could not delete (the engine keeps them
        as `pending_replacement`/`delete` and retries on the next update)."""

    def urn(self, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{self.type_token}::{name}"

    def goal(self, provider, inputs: dict) -> dict:
        """The program's inputs as registered by `dynamic.Resource`: plus `__provider`, which is
        a secret unless the provider sets `serialize_as_secret_always = False`."""
        if PROVIDER_KEY in inputs:
            raise ValueError("A dynamic resource must not define the __provider key")
        serialized = serialize_provider(provider)
        if getattr(provider, "serialize_as_secret_always", True):
            serialized = secret(serialized)
        return {**inputs, PROVIDER_KEY: serialized}

    # -- helpers -------------------------------------------------------------------------------

    def _diff(self, urn: str, old: dict, checked: dict) -> DiffResult:
        diff = self.process.diff(urn, old["id"], old["outputs"], checked, old_inputs=old["inputs"])
        if diff.changes == DIFF_UNKNOWN:
            # The engine's fallback: compare old checked inputs with new checked inputs.
            changed = _changed_keys(old["inputs"], checked)
            diff.changes = DIFF_SOME if changed else DIFF_NONE
            diff.diffs = changed
        if diff.changes not in (DIFF_NONE, DIFF_SOME):
            raise EngineError(f"unrecognized diff state for {urn}: {diff.changes}")
        return diff

    @staticmethod
    def _replaces(diff: DiffResult) -> bool:
        return bool(diff.replaces) or any("REPLACE" in d["kind"] for d in diff.detailed_diff.values())

    # -- operations ----------------------------------------------------------------------------

    def preview(self, name: str, provider, inputs: dict) -> StepResult:
        """Check and Diff only (the dynamic host does not support provider-side previews, so the
        engine calls neither Create nor Update): the planned op, checked inputs and diff.  For a
        planned create/update/replace `outputs` is the checked inputs, as the engine reports them."""
        urn = self.urn(name)
        goal = self.goal(provider, inputs)
        old = self.state.get(name)
        try:
            checked, failures = self.process.check(urn, old["inputs"] if old else {}, goal)
            if failures:
                return StepResult("failed", checked_inputs=checked, failures=failures, error=_failure_text(failures))
            if old is None:
                return StepResult("create", outputs=checked, checked_inputs=checked)
            diff = self._diff(urn, old, checked)
            if diff.changes == DIFF_NONE:
                return StepResult("same", outputs=old["outputs"], checked_inputs=checked, diff=diff, id=old["id"])
            if self._replaces(diff):
                checked, failures = self.process.check(urn, {}, goal)
                if failures:
                    return StepResult("failed", checked_inputs=checked, failures=failures, diff=diff, error=_failure_text(failures))
                return StepResult("replace", outputs=checked, checked_inputs=checked, diff=diff, id=old["id"])
            return StepResult("update", outputs=checked, checked_inputs=checked, diff=diff, id=old["id"])
        except (ProviderError, EngineError) as error:
            return StepResult("failed", error=str(error))

    def up(self, name: str, provider, inputs: dict) -> StepResult:
        urn = self.urn(name)
        goal = self.goal(provider, inputs)
        if contains_unknowns(goal):
            raise ValueError("unknown inputs exist only in preview: `pulumi up` waits for every value")
        old = self.state.get(name)
        checked: Optional[dict] = None
        diff: Optional[DiffResult] = None
        try:
            checked, failures = self.process.check(urn, old["inputs"] if old else {}, goal)
            if failures:
                return StepResult("failed", checked_inputs=checked, failures=failures, error=_failure_text(failures))

            if old is None:
                id_, outputs = self.process.create(urn, checked)
                self.state[name] = {"id": id_, "inputs": checked, "outputs": outputs}
                return StepResult("create", outputs=outputs, checked_inputs=checked, id=id_)

            diff = self._diff(urn, old, checked)
            if diff.changes == DIFF_NONE:
                return StepResult("same", outputs=old["outputs"], checked_inputs=checked, diff=diff, id=old["id"])

            if self._replaces(diff):
                # The engine re-checks with no olds: defaults must be recomputed for a new resource.
                checked, failures = self.process.check(urn, {}, goal)
                if failures:
                    return StepResult("failed", checked_inputs=checked, failures=failures, diff=diff, error=_failure_text(failures))
                if diff.delete_before_replace:
                    self.process.delete(urn, old["id"], old["outputs"], old_inputs=old["inputs"])
                    del self.state[name]
                    id_, outputs = self.process.create(urn, checked)
                    self.state[name] = {"id": id_, "inputs": checked, "outputs": outputs}
                else:
                    id_, outputs = self.process.create(urn, checked)
                    self.state[name] = {"id": id_, "inputs": checked, "outputs": outputs}
                    try:
                        self.process.delete(urn, old["id"], old["outputs"], old_inputs=old["inputs"])
                    except (ProviderError, EngineError) as error:
                        self.pending_deletes.append(old)
                        return StepResult("failed", outputs=outputs, checked_inputs=checked, diff=diff, error=str(error), id=id_)
                return StepResult("replace", outputs=outputs, checked_inputs=checked, diff=diff, id=id_)

            outputs = self.process.update(urn, old["id"], old["outputs"], checked, old_inputs=old["inputs"])
            self.state[name] = {"id": old["id"], "inputs": checked, "outputs": outputs}
            return StepResult("update", outputs=outputs, checked_inputs=checked, diff=diff, id=old["id"])
        except (ProviderError, EngineError) as error:
            return StepResult("failed", checked_inputs=checked, diff=diff, error=str(error))

    def refresh(self, name: str) -> StepResult:
        """Read(id, props = outputs, inputs = inputs).  An empty id means the resource is gone and
        it leaves the state (op 'delete'); otherwise outputs (and inputs, if returned) are replaced
        (op 'update' if anything changed, else 'same')."""
        old = self.state[name]
        urn = self.urn(name)
        try:
            result = self.process.read(urn, old["id"], old["outputs"], old["inputs"])
        except (ProviderError, EngineError) as error:
            return StepResult("failed", error=str(error), id=old["id"])
        if not result.id:
            del self.state[name]
            return StepResult("delete", id=old["id"])
        inputs = result.inputs if result.inputs is not None else old["inputs"]
        self.state[name] = {"id": result.id, "inputs": inputs, "outputs": result.outputs}
        changed = result.outputs != old["outputs"] or inputs != old["inputs"] or result.id != old["id"]
        return StepResult("update" if changed else "same", outputs=result.outputs, checked_inputs=inputs, id=result.id)

    def destroy(self, name: str) -> StepResult:
        old = self.state[name]
        try:
            self.process.delete(self.urn(name), old["id"], old["outputs"], old_inputs=old["inputs"])
        except (ProviderError, EngineError) as error:
            return StepResult("failed", error=str(error), id=old["id"])
        del self.state[name]
        return StepResult("delete", id=old["id"])
