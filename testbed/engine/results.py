"""Errors and results of the engine harness: provider/engine errors and decoded responses.

Split out of `testbed.engine` (import from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import grpc

from pulumi.runtime.proto import provider_pb2

DIFF_UNKNOWN = provider_pb2.DiffResponse.DIFF_UNKNOWN
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


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
