"""Which pip the environment gets: `python.pip` (true: the newest from the index, false: none, or a
version such as "24.2" / ">=24,<25"), or a conda file's `pip=X` pin when the file names only Python
and pip packages (its environment is then a venv, whose pip is installed from the index as a wheel).

A conda environment with conda packages gets conda's pip: its `pip=X` stays a match spec for the
solver (CondaSpec.pip_spec), and `python.pip` does not apply."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from typing import TYPE_CHECKING

from mlenv.diagnostics.errors import SpecError

if TYPE_CHECKING:  # a definition without a conda file never imports its parser
    from mlenv.definition.conda_file import CondaSpec

_OPERATOR = re.compile(r"^(==|!=|<=|>=|<|>|~=|===)")
FIX = 'write pip: false (no pip), pip: true (the newest) or pip: "24.2" (that version)'


def pip_setting(value: object, conda: CondaSpec | None) -> bool | str:
    """True (the newest pip), False (no pip) or a PEP 440 specifier set ("==24.2")."""
    pin = conda.pip_spec if conda else None
    if value is None:
        return _venv_pin(pin) if pin and not conda.packages else True
    if conda and conda.packages:
        raise SpecError("python.pip", "does not apply to a conda environment: it gets conda's pip when its dependencies list pip or have a pip section",
                        "list pip (or pip=24.2) in the conda dependencies, or remove python.pip", value)
    if pin:
        raise SpecError("python.pip", f"is set while the conda file pins {pin}", "keep one of them: the conda file's pip= pin or python.pip", value)
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise SpecError("python.pip", "must be true, false or a pip version", FIX, value)
    return _specifiers("python.pip", value.strip())


def _venv_pin(match_spec: str) -> str:
    """A conda `pip` match spec as pip's specifiers: `pip 24.2.*` → `==24.2.*`; what has no pip
    equivalent (a build string, `|`) is an error naming the fix."""
    name, _, rest = match_spec.partition(" ")
    version, _, build = rest.strip().partition(" ")
    if build or "|" in version:
        raise SpecError("conda.dependencies", f"{match_spec}: the venv's pip is a wheel from the index, a conda build or `|` cannot apply to it",
                        "write pip=24.2 or pip>=24,<25, or add a conda package so conda installs pip")
    return _specifiers("conda.dependencies", ",".join(p if _OPERATOR.match(p) else "==" + p for p in version.split(",")))


def _specifiers(where: str, text: str) -> str:
    """A bare version means exactly it; anything else must be PEP 440 specifiers."""
    text = text if _OPERATOR.match(text) else "==" + text
    try:
        return str(SpecifierSet(text))
    except InvalidSpecifier:
        raise SpecError(where, f"not a pip version or specifier: {text}", FIX, text) from None
