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

The harness is split by stage; this module is the one tests import from and re-exports them:
`testbed.engine.wire` (unknowns, secrets, Struct conversion), `testbed.engine.results` (errors and
decoded results), `testbed.engine.provider_process` (`ProviderProcess`) and `testbed.engine.stack`
(`Stack`).
"""

from __future__ import annotations

from testbed.engine.provider_process import REPO_ROOT, ProviderProcess
from testbed.engine.results import (
    DIFF_NONE,
    DIFF_SOME,
    DIFF_UNKNOWN,
    DiffResult,
    EngineError,
    ProviderError,
    ProviderStartError,
    ReadResult,
    StepResult,
)
from testbed.engine.stack import DYNAMIC_TYPE, Stack
from testbed.engine.wire import (
    UNKNOWN,
    WIRE_UNKNOWN,
    Unknown,
    annotate_secrets,
    contains_secrets,
    contains_unknowns,
    from_struct,
    is_secret,
    is_unknown,
    reveal,
    secret,
    to_struct,
)

__all__ = [
    "UNKNOWN",
    "WIRE_UNKNOWN",
    "Unknown",
    "annotate_secrets",
    "contains_secrets",
    "contains_unknowns",
    "from_struct",
    "is_secret",
    "is_unknown",
    "reveal",
    "secret",
    "to_struct",
    "DIFF_NONE",
    "DIFF_SOME",
    "DIFF_UNKNOWN",
    "DiffResult",
    "EngineError",
    "ProviderError",
    "ProviderStartError",
    "ReadResult",
    "StepResult",
    "REPO_ROOT",
    "ProviderProcess",
    "DYNAMIC_TYPE",
    "Stack",
]
