"""The step generator, one resource at a time: what up / preview / refresh / destroy send.

Split out of `testbed.engine` (import from there); see its docstring for the wire facts.
"""

from __future__ import annotations

from typing import Any, Optional

from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider
from testbed.engine.provider_process import ProviderProcess
from testbed.engine.results import DIFF_NONE, DIFF_SOME, DIFF_UNKNOWN, DiffResult, EngineError, ProviderError, StepResult
from testbed.engine.wire import contains_unknowns, secret

DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
"""Type token of a plain `pulumi.dynamic.Resource`; a subclass declared with
`class X(Resource, module="m", name="N")` registers `pulumi-python:dynamic/m:N`."""


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
