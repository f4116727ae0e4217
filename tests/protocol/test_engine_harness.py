"""The engine harness itself, proven against `tests.infra.sample_provider` through a real
`python -m pulumi.dynamic` process: what runs, in which order, with which olds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.engine import (
    DIFF_NONE,
    DIFF_SOME,
    DYNAMIC_TYPE,
    UNKNOWN,
    ProviderError,
    ProviderProcess,
    Stack,
    is_secret,
    is_unknown,
    reveal,
    secret,
)
from tests.infra.sample_provider import SampleProvider


@pytest.fixture(scope="module")
def process():
    with ProviderProcess() as proc:
        yield proc


@pytest.fixture
def stack(process):
    return Stack(process)


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path


def journal(workdir: Path) -> list[dict]:
    path = workdir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ops(workdir: Path) -> list[str]:
    return [entry["op"] for entry in journal(workdir)]


def props(workdir: Path, text: str = "hello", kind: str = "a", **extra) -> dict:
    return {"dir": str(workdir), "text": text, "kind": kind, **extra}


def test_process_is_configured_like_the_engine_does(process):
    assert process.alive and process.port
    assert process.handshake_supported is False  # the dynamic host does not implement Handshake
    assert process.configure_response.acceptSecrets is False
    assert process.configure_response.supportsPreview is False
    assert process.keep_secrets is False


def test_urn_shape(process):
    assert Stack(process).urn("x") == f"urn:pulumi:test::mlenv::{DYNAMIC_TYPE}::x"
    assert DYNAMIC_TYPE == "pulumi-python:dynamic:Resource"
    custom = Stack(process, type_token="pulumi-python:dynamic/mlenv:Environment")
    assert custom.urn("env") == "urn:pulumi:test::mlenv::pulumi-python:dynamic/mlenv:Environment::env"


def test_create_then_same_inputs_is_a_noop(stack, workdir):
    provider = SampleProvider()
    created = stack.up("r", provider, props(workdir))
    assert created.op == "create", created.error
    assert created.id == "res-1" and stack.state["r"]["id"] == "res-1"
    assert created.checked_inputs["length"] == 5
    assert created.outputs["text"] == "hello" and created.outputs["serial"] == 1
    assert ops(workdir) == ["check", "create"]

    same = stack.up("r", provider, props(workdir))
    assert same.op == "same", same.error
    assert same.diff.changes == DIFF_NONE
    assert same.outputs == created.outputs
    assert ops(workdir) == ["check", "create", "check", "diff"]
    assert (workdir / "counter").read_text() == "1"


def test_olds_are_checked_inputs_for_check_and_outputs_for_diff_and_update(stack, workdir):
    provider = SampleProvider()
    stack.up("r", provider, props(workdir))
    result = stack.up("r", provider, props(workdir, text="changed"))
    assert result.op == "update", result.error
    assert result.diff.changes == DIFF_SOME and result.diff.replaces == []
    assert result.outputs["text"] == "changed" and result.outputs["length"] == 7
    assert result.id == "res-1" and stack.state["r"]["outputs"]["text"] == "changed"

    check, diff, update = journal(workdir)[2:]
    assert [check["op"], diff["op"], update["op"]] == ["check", "diff", "update"]
    # Check's olds: the previous checked inputs (has `length`, no output-only `serial`).
    assert "length" in check["olds"] and "serial" not in check["olds"]
    # Diff's and Update's olds: the previous outputs (`serial` exists only there).
    assert "serial" in diff["olds"] and "serial" in update["olds"]
    assert update["id"] == "res-1"


def test_kind_change_replaces_create_before_delete(stack, workdir):
    provider = SampleProvider()
    stack.up("r", provider, props(workdir))
    result = stack.up("r", provider, props(workdir, kind="b"))
    assert result.op == "replace", result.error
    assert result.diff.replaces == ["kind"]
    assert result.id == "res-2" and stack.state["r"]["id"] == "res-2"
    # Engine order: check, diff, check again with no olds (defaults recomputed), create new, delete old.
    entries = journal(workdir)[2:]
    assert [e["op"] for e in entries] == ["check", "diff", "check", "create", "delete"]
    assert entries[2]["olds"] == []
    assert entries[3]["id"] == "res-2" and entries[4]["id"] == "res-1"


def test_delete_before_replace_deletes_first(stack, workdir):
    provider = SampleProvider()
    stack.up("r", provider, props(workdir, dbr=True))
    result = stack.up("r", provider, props(workdir, kind="b", dbr=True))
    assert result.op == "replace", result.error
    assert result.diff.delete_before_replace is True
    assert ops(workdir)[-2:] == ["delete", "create"]


def test_unknown_diff_falls_back_to_comparing_inputs(stack, workdir):
    provider = SampleProvider()
    stack.up("r", provider, props(workdir, lazy=True, note="one"))
    same = stack.up("r", provider, props(workdir, lazy=True, note="one"))
    assert same.op == "same"
    changed = stack.up("r", provider, props(workdir, lazy=True, note="two"))
    assert changed.op == "update" and changed.diff.diffs == ["note"]


def test_check_failure_surfaces_the_reason_and_creates_nothing(stack, workdir):
    result = stack.up("r", SampleProvider(), props(workdir, text=""))
    assert result.op == "failed"
    assert result.failures == [("text", "text must not be empty")]
    assert "r" not in stack.state
    assert ops(workdir) == ["check"]
    assert not (workdir / "counter").exists()


def test_provider_exception_is_a_provider_error_with_the_message(process, stack, workdir):
    provider = SampleProvider()
    goal = stack.goal(provider, props(workdir, fail="create"))
    checked, failures = process.check(stack.urn("r"), {}, goal)
    assert failures == []
    with pytest.raises(ProviderError) as caught:
        process.create(stack.urn("r"), checked)
    assert "RuntimeError: sample create refused: 'hello'" in caught.value.details
    assert caught.value.details.startswith("Traceback (most recent call last):")  # the host's format_exc()
    assert caught.value.method == "Create"

    result = stack.up("r", provider, props(workdir, fail="create"))
    assert result.op == "failed" and "sample create refused" in result.error
    assert "r" not in stack.state


def test_failed_update_keeps_the_old_state(stack, workdir):
    provider = SampleProvider()
    created = stack.up("r", provider, props(workdir))
    result = stack.up("r", provider, props(workdir, text="boom", fail="update"))
    assert result.op == "failed" and "sample update refused" in result.error
    assert stack.state["r"]["outputs"] == created.outputs


def test_tracebacklimit_zero_leaves_type_and_message_and_sticks(workdir):
    # A process of its own: sys.tracebacklimit is process-wide and stays set.
    with ProviderProcess() as own:
        stack = Stack(own)
        quiet = stack.up("q", SampleProvider(), props(workdir, fail="create", quiet=True))
        assert quiet.op == "failed"
        assert quiet.error == "RuntimeError: sample create refused: 'hello'\n"
        later = stack.up("l", SampleProvider(), props(workdir, text="later", fail="create"))
        assert later.error == "RuntimeError: sample create refused: 'later'\n"  # no traceback any more


def test_refresh_removes_a_resource_the_provider_reports_gone(stack, workdir):
    provider = SampleProvider()
    created = stack.up("r", provider, props(workdir))
    kept = stack.refresh("r")
    assert kept.op == "same" and stack.state["r"]["outputs"] == created.outputs
    (workdir / f"gone-{created.id}").touch()
    gone = stack.refresh("r")
    assert gone.op == "delete"
    assert "r" not in stack.state
    assert ops(workdir)[-2:] == ["read", "read"]


def test_destroy_deletes(stack, workdir):
    stack.up("r", SampleProvider(), props(workdir))
    result = stack.destroy("r")
    assert result.op == "delete" and "r" not in stack.state
    assert journal(workdir)[-1] == {"op": "delete", "id": "res-1"}


def test_preview_sends_unknowns_as_pulumi_output_unknown(stack, workdir):
    provider = SampleProvider()
    planned = stack.preview("r", provider, props(workdir, text=UNKNOWN))
    assert planned.op == "create"
    assert is_unknown(planned.checked_inputs["text"]) and is_unknown(planned.checked_inputs["length"])
    seen = journal(workdir)[0]["news"]["text"]
    assert seen["module"] == "pulumi.output" and seen["is_output_unknown"] and not seen["is_wire_sentinel"]
    assert ops(workdir) == ["check"] and "r" not in stack.state

    stack.up("r", provider, props(workdir))
    update = stack.preview("r", provider, props(workdir, text=UNKNOWN))
    assert update.op == "update"
    check, diff = journal(workdir)[-2:]
    assert check["op"] == "check" and check["news"]["text"]["is_output_unknown"]
    assert diff["op"] == "diff" and diff["news"]["text"]["is_output_unknown"] and diff["news"]["length"]["is_output_unknown"]
    assert ops(workdir)[-3:] == ["create", "check", "diff"]  # preview ran no Create/Update

    assert stack.preview("r", provider, props(workdir)).op == "same"
    assert stack.preview("r", provider, props(workdir, kind="z")).op == "replace"
    assert "update" not in ops(workdir) and ops(workdir).count("create") == 1

    with pytest.raises(ValueError):
        stack.up("r", provider, props(workdir, text=UNKNOWN))


def test_secret_inputs_reach_a_dynamic_provider_as_plain_values(stack, workdir):
    result = stack.up("r", SampleProvider(), props(workdir, token=secret("hunter2")))
    assert result.op == "create", result.error
    check, create = journal(workdir)
    for entry in (check["news"], create["props"]):
        assert entry["token"]["type"] == "str" and not entry["token"]["is_wire_secret"]
        assert entry["token"]["repr"] == "'hunter2'"
    # ...and the engine marks what comes back under the same key as secret again.
    assert is_secret(result.checked_inputs["token"]) and is_secret(result.outputs["token"])
    assert reveal(result.outputs["token"]) == "hunter2"
    assert not is_secret(result.outputs["text"])
    # dynamic.Resource makes the pickled provider a secret unless the provider opts out.
    assert is_secret(stack.state["r"]["inputs"]["__provider"])


def test_forcing_wire_secrets_shows_why_the_engine_strips_them(process, stack, workdir):
    goal = stack.goal(SampleProvider(), props(workdir, token=secret("hunter2")))
    process.keep_secrets = True
    try:
        # The host does not unwrap a secret `__provider`: it cannot even find the provider.
        with pytest.raises(ProviderError, match="unhashable type: 'dict'"):
            process.check(stack.urn("r"), {}, goal)
        # With a plain `__provider`, a secret input arrives as the signature dict itself.
        process.check(stack.urn("r"), {}, {**goal, "__provider": reveal(goal["__provider"])})
    finally:
        process.keep_secrets = False
    seen = journal(workdir)[0]["news"]["token"]
    assert seen["type"] == "dict" and seen["is_wire_secret"]


def test_numbers_come_back_as_floats(stack, workdir):
    result = stack.up("r", SampleProvider(), props(workdir, count=3))
    assert result.outputs["count"] == 3 and isinstance(result.outputs["count"], float)
    assert journal(workdir)[0]["news"]["count"]["type"] == "float"
