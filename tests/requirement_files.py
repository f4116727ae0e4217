"""Shared by the tests/test_requirements*.py files: the committed requirements fixture, its wheel, and
helpers that parse lines or files and return the one SpecError they raise."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.requirements import parse_file, parse_lines
from tests import paths

FIXTURES = paths.DEFINITIONS / "requirements"
WHEEL = FIXTURES / "wheels" / "acme_features-0.3.1-py3-none-any.whl"
HEX = "0123456789abcdef" * 4
WHEEL_FIX = "Fix: build a wheel (pip wheel --no-deps --wheel-dir wheels <path>) and reference the .whl"


def error(lines, base: Path | None = None, origin: str = "pip") -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_lines(lines, base or FIXTURES, origin)
    return caught.value


def file_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_file(path)
    return caught.value


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
