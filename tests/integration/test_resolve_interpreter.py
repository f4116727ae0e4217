"""uv is handed the host interpreter the bytecode compiler found (builders/daemonless.py), so it does
not look one up through a version manager's shim on every build; the lock is the same either way."""

from __future__ import annotations

import pytest

from mlenv.builders.bytecode import find_compiler
from mlenv.definition.load import from_mapping
from mlenv.resolve import pip_lock
from mlenv.resolve.target import PythonFacts

pytestmark = pytest.mark.integration


def test_uv_gets_the_compilers_interpreter_and_locks_the_same(index_settings, monkeypatch):
    pip = from_mapping({"image": "unused", "pip": ["six==1.16.0"]}).pip
    python = PythonFacts("3.11", "/usr/local/bin/python3.11", "2.36")
    compiler = find_compiler("3.11")
    commands: list[list[str]] = []
    real_run = pip_lock.subprocess.run
    monkeypatch.setattr(pip_lock.subprocess, "run", lambda command, **kw: commands.append(command) or real_run(command, **kw))
    plain = pip_lock.resolve(pip, python, index_settings)
    handed = pip_lock.resolve(pip, python, index_settings, interpreter=compiler.path)
    assert plain == handed and [w.pin for w in handed] == ["six==1.16.0"]
    assert "--python" not in commands[0]
    assert commands[1][commands[1].index("--python") + 1] == compiler.path
