"""The last resort through the real shells: a registry that answers 503 forever and an injected bug
each end in one message and a saved log, never a traceback, in the CLI and through the gRPC provider;
a corrupt cache JSON file is no failure at all: it is detected again, with a warning."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlenv import cli
from mlenv.oci.layout import LayoutStore
from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack
from tests.infra.faulty_provider import INJECTED, FaultyProvider

pytestmark = pytest.mark.integration
INTERNAL = re.compile(r"internal error: (?P<kind>\S+): (?P<message>.*); full log at (?P<path>\S+), please report$")
FULL_LOG = re.compile(r"^  full log: (?P<path>\S+)$", re.MULTILINE)


class _Unavailable(BaseHTTPRequestHandler):
    """A registry that is down behind its front end: 503 to every /v2/ request, counted."""

    hits = 0

    def _answer(self) -> None:
        type(self).hits += self.path.startswith("/v2/")
        self.send_response(503 if self.path.startswith("/v2/") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def registry_503():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def corrupt_cache(tmp_path, base_image) -> Path:
    """A cache whose base-image facts file for the test base image is cut short."""
    from mlenv.definition.reference import parse_reference
    from mlenv.oci.base_image import resolve_base
    from mlenv.oci.store import open_store

    ref = parse_reference(base_image)
    store = open_store(ref)
    try:
        digest = resolve_base(ref, store).digest
    finally:
        store.close()
    facts = tmp_path / "corrupt-cache" / "base" / f"{digest.split(':')[1]}.json"
    facts.parent.mkdir(parents=True)
    facts.write_text('{"version": "3.11", "interpre')
    return tmp_path / "corrupt-cache"


def _definition(folder: Path, image: str) -> Path:
    path = folder / "env.yml"
    path.write_text(f"image: {image}\npip: [six==1.16.0]\n")
    return path


def _mlenv_build(file: Path, registry: str, index, cache: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mlenv.cli", "build", str(file), "--registry", registry, "--index-url", index.url]
    env = {**os.environ, "MLENV_CACHE_DIR": str(cache)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def _without_warnings(text: str) -> str:
    """stderr without the definition's warnings (e.g. the base's mutable tag), printed before any build."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("warning: "))


def _one_explanation(text: str) -> str:
    """The error paragraph: a headline, then only its indented details (diagnosis, evidence, log)."""
    first, *rest = _without_warnings(text).rstrip("\n").splitlines()
    assert all(line.startswith("  ") for line in rest), text
    assert "Traceback" not in text and 'File "' not in text, text
    return first


def _internal_line(text: str) -> re.Match:
    """The one line of an internal error, with its log saved and holding the traceback."""
    (line,) = _without_warnings(text).strip().splitlines()
    assert "Traceback" not in text, text
    found = INTERNAL.search(line)
    assert found, line
    assert "Traceback (most recent call last)" in Path(found["path"]).read_text()
    return found


# --- the CLI ------------------------------------------------------------------------------------

def test_cli_registry_answering_503_forever_is_explained(tmp_path, registry_503, base_image, index):
    before = _Unavailable.hits
    done = _mlenv_build(_definition(tmp_path, base_image), f"{registry_503}/x/y", index, tmp_path / "cache")
    assert done.returncode == 2, done.stderr
    headline = _one_explanation(done.stderr)
    assert headline.startswith(f"error: registry: the registry {registry_503} answered HTTP 503 to GET /v2/x/y/manifests/")
    assert "(4 attempts)" in headline and "Fix: retry later" in headline and "internal error" not in headline
    assert _Unavailable.hits - before == 4, "each attempt reached the registry"
    log = Path(FULL_LOG.search(done.stderr)["path"])
    assert log.is_file() and log.parent == tmp_path / "cache" / "logs" and "answered HTTP 503" in log.read_text()


def test_cli_corrupt_cache_file_is_repaired_with_a_warning(tmp_path, corrupt_cache, base_image, registry, index):
    done = _mlenv_build(_definition(tmp_path, base_image), f"oci:{tmp_path / 'out'}", index, corrupt_cache)
    assert done.returncode == 0, done.stderr
    assert "warning: the cached base-image facts " in done.stdout and "are damaged: detecting them from the image again" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr and '"interpre' not in done.stdout + done.stderr, "the file's content is not echoed"
    facts = next((corrupt_cache / "base").glob("*.json"))
    assert set(json.loads(facts.read_text())) == {"version", "interpreter", "glibc"}


def test_cli_injected_bug_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    def bug(*_args, **_kwargs):
        raise RuntimeError(INJECTED)

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(LayoutStore, "get_manifest", bug)
    code = cli.main(["build", str(_definition(tmp_path, "127.0.0.1:1/base/python:3.11")), "--registry", f"oci:{tmp_path / 'out'}"])
    stderr = capsys.readouterr().err
    assert code == 2
    found = _internal_line(stderr)
    assert found["kind"] == "RuntimeError" and found["message"] == "injected bug (token=*** must not show)"
    assert "tok-0123456789" not in Path(found["path"]).read_text() and "in bug" in Path(found["path"]).read_text()


# --- the registry store, below both shells -------------------------------------------------------

def test_a_blob_stream_answered_503_is_explained_too(registry_503, tmp_path):
    from mlenv.diagnostics.errors import RegistryError
    from mlenv.oci.registry import RegistryStore

    store = RegistryStore(registry_503, "x/y")
    try:
        with pytest.raises(RegistryError) as caught:
            store.save_blob("sha256:" + "0" * 64, tmp_path / "blob")
    finally:
        store.close()
    assert caught.value.problem == f"the registry {registry_503} answered HTTP 503 to GET /v2/x/y/blobs/sha256:{'0' * 64} (4 attempts)"
    assert not (tmp_path / "blob").exists()


# --- the gRPC provider --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine(index, tmp_path_factory):
    cache = tmp_path_factory.mktemp("provider-cache")
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(cache)}) as process:
        process.cache = cache
        yield process


def _inputs(base: str, repository: str) -> dict:
    return {"image": base, "pip": ["six==1.16.0"], "repository": repository}


def _engine_message(error: str) -> str:
    """What `pulumi up` shows: the dynamic host's formatted exception, which must be one `Type: message`."""
    assert "Traceback" not in error and 'File "' not in error, error
    kind, _, message = error.partition(": ")
    assert kind.startswith("mlenv.diagnostics.errors."), error
    return message


def test_provider_registry_answering_503_forever_is_explained(engine, registry_503, base_image):
    result = Stack(engine).up("down", EnvironmentProvider(), _inputs(base_image, f"{registry_503}/x/y"))
    assert result.op == "failed"
    headline = _one_explanation(_engine_message(result.error))
    assert headline.startswith(f"registry: the registry {registry_503} answered HTTP 503 to GET /v2/x/y/manifests/")
    log = Path(FULL_LOG.search(result.error)["path"])
    assert log.is_file() and log.parent == engine.cache / "logs"


def test_provider_corrupt_cache_file_is_repaired(corrupt_cache, base_image, registry, index):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(corrupt_cache)}) as process:
        result = Stack(process).up("corrupt", EnvironmentProvider(), _inputs(base_image, f"{registry.host}/envs/corrupt"))
    assert result.op == "create", result.error
    facts = next((corrupt_cache / "base").glob("*.json"))
    assert set(json.loads(facts.read_text())) == {"version", "interpreter", "glibc"}


def test_provider_injected_bug_is_one_line_naming_it(engine, registry, base_image):
    result = Stack(engine).up("buggy", FaultyProvider(), _inputs(base_image, f"{registry.host}/envs/buggy"))
    assert result.op == "failed"
    found = _internal_line(_engine_message(result.error))
    assert found["kind"] == "RuntimeError" and found["message"] == "injected bug (token=*** must not show)"
    log = Path(found["path"]).read_text()
    assert found["path"].startswith(str(engine.cache / "logs")) and "faulty_provider.py" in log and "tok-0123456789" not in log

