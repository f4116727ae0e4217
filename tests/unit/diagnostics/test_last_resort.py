"""The last resort: anything that is not an MlenvError becomes one line and a saved, redacted traceback."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from mlenv.diagnostics.errors import BuildError, CacheError, DefinitionError, EngineError, InternalError, MlenvError, RegistryError, ResolveError, SpecError, StoreError
from mlenv.diagnostics.last_resort import last_resort

LINE = re.compile(r"^internal error: (?P<kind>\S+): (?P<message>.*); full log at (?P<path>\S+), please report$")


def _raise_inside(error: BaseException) -> InternalError:
    with pytest.raises(InternalError) as caught, last_resort():
        _a_buggy_function(error)
    return caught.value


def _a_buggy_function(error: BaseException) -> None:
    raise error


def test_an_unexpected_exception_is_one_line_naming_it_and_its_saved_log(tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    error = _raise_inside(RuntimeError("boom"))
    found = LINE.match(str(error))
    assert found and found["kind"] == "RuntimeError" and found["message"] == "boom", str(error)
    assert "\n" not in str(error)
    log = Path(found["path"])
    assert log.parent == tmp_path / "cache" / "logs" and log.suffix == ".log"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "_a_buggy_function" in text and "RuntimeError: boom" in text
    assert error.__suppress_context__, "raised from None: a printed traceback shows the one line only"


def test_library_exceptions_are_named_with_their_module(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    with pytest.raises(InternalError) as caught, last_resort():
        json.loads("{not json")
    assert str(caught.value).startswith("internal error: json.decoder.JSONDecodeError: Expecting property name")


def test_secrets_are_redacted_from_the_line_and_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MLENV_REGISTRY_PASSWORD", "hunter2-registry")
    error = _raise_inside(ValueError("GET https://alice:s3cret-index@index.example/simple/ with hunter2-registry failed"))
    log = Path(LINE.match(str(error))["path"]).read_text()
    for secret in ("s3cret-index", "hunter2-registry"):
        assert secret not in str(error) and secret not in log
    assert "index.example" in str(error)


def test_a_long_or_multiline_message_is_cut_to_its_first_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    error = _raise_inside(RuntimeError("first line " + "x" * 500 + "\nsecond line"))
    message = LINE.match(str(error))["message"]
    assert message.startswith("first line x") and message.endswith("…") and len(message) == 200
    assert "second line" not in str(error)
    assert "second line" in Path(error.log_path).read_text()


def test_a_broken_cache_folder_saves_the_log_in_the_temporary_folder(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("MLENV_CACHE_DIR", str(not_a_folder))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    error = _raise_inside(RuntimeError("boom"))
    log = Path(LINE.match(str(error))["path"])
    assert log.parent == tmp_path / "tmp" / "mlenv-logs" and "RuntimeError: boom" in log.read_text()


@pytest.mark.parametrize("error", [
    BuildError("pip", "six==99 is not on the index", "pin one that exists"),
    SpecError("pip[0]", "invalid requirement", "write name==version"),
    BrokenPipeError(),  # a reader that went away (`mlenv diagnose LOG | head`) is not a bug
    KeyboardInterrupt(),
])
def test_explained_errors_and_interruptions_pass_through_untouched(error, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    with pytest.raises(type(error)) as caught, last_resort():
        raise error
    assert caught.value is error
    assert not (tmp_path / "logs").exists()


def test_the_stage_errors_are_one_tree_with_the_old_names_kept():
    assert DefinitionError is SpecError
    for stage in (ResolveError, StoreError, RegistryError, EngineError, CacheError):
        assert issubclass(stage, BuildError)
    assert issubclass(RegistryError, StoreError) and issubclass(InternalError, MlenvError)
    explained = RegistryError("registry", "denied", "log in", rule="registry.unauthorized").with_details(log_path="/x.log")
    assert type(explained) is RegistryError and explained.rule == "registry.unauthorized" and explained.log_path == "/x.log"
    internal = InternalError("internal error", "RuntimeError: boom", "please report", log_path="/y.log").with_details()
    assert str(internal) == "internal error: RuntimeError: boom; full log at /y.log, please report"


def test_the_log_keeps_every_frame_when_tracebacks_are_hidden(tmp_path, monkeypatch):
    """The provider sets sys.tracebacklimit = 0 so the engine shows one line; the log must not lose the frames."""
    import sys

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "tracebacklimit", 0, raising=False)
    error = _raise_inside(RuntimeError("boom"))
    assert "_a_buggy_function" in Path(error.log_path).read_text()
