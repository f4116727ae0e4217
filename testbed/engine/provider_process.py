"""The provider process: `python -m pulumi.dynamic` spoken to over gRPC like the engine does.

Split out of `testbed.engine` (import from there); see its docstring for the wire facts.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import grpc
from google.protobuf import empty_pb2, struct_pb2

from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from testbed.engine.results import DiffResult, EngineError, ProviderError, ProviderStartError, ReadResult
from testbed.engine.wire import annotate_secrets, from_struct, reveal, to_struct

REPO_ROOT = Path(__file__).resolve().parents[2]

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
