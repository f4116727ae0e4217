"""The target interpreter the lock is resolved for: read from the base image (oci/base_image.py
detects it), and checked against the Python version the definition pins."""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.diagnostics.errors import BuildError


@dataclass(frozen=True)
class PythonFacts:
    version: str          # "3.11"
    interpreter: str      # "/usr/bin/python3.11"
    glibc: str            # "2.36"


def check_python(wanted: str | None, facts: PythonFacts) -> None:
    """The definition's Python pin ("3.11" or "3.11.4") must be the base image's Python, since the
    environment runs on that interpreter; both builders ask this one question."""
    if wanted and not (facts.version == wanted or wanted.startswith(facts.version + ".")):
        raise BuildError("python.version", f"the definition asks for Python {wanted}, the base image has Python {facts.version}",
                         f"use a base image with Python {wanted}, or change the Python pin to {facts.version}", rule="image.python-mismatch")
