"""An exhausted registry retry is an explanation (host, what it answered), not an internal error;
there is one retry layer, and it honours Retry-After (bounded)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx

from mlenv.diagnostics.diagnose import diagnose
from mlenv.diagnostics.errors import RegistryError
from mlenv.oci.auth import TokenServiceError
from mlenv.oci.registry import _Transient, _is_transient, retry_after_seconds, unavailable


def test_a_server_error_names_the_host_the_status_and_the_request():
    error = unavailable("registry.example:5000", _Transient("GET /v2/x/manifests/t", 503), 4)
    assert isinstance(error, RegistryError) and error.rule == "registry.unavailable"
    assert error.headline.startswith("registry: the registry registry.example:5000 answered HTTP 503 to GET /v2/x/manifests/t (4 attempts). Fix: retry later")
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.unavailable"


def test_a_connection_that_keeps_failing_says_how():
    error = unavailable("registry.example", httpx.ReadTimeout("timed out"), 4)
    assert error.problem == "the registry registry.example did not answer: ReadTimeout: timed out (4 attempts)"
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.unavailable"


def test_rate_limiting_is_the_quota_diagnosis():
    error = unavailable("registry.example", _Transient("HEAD /v2/x/blobs/sha256:ab", 429), 4)
    assert error.rule == "registry.quota" and "answered HTTP 429" in error.problem and "rate limit" in error.fix


def test_an_exhausted_operation_is_final_so_there_is_one_retry_layer():
    assert not _is_transient(unavailable("h", _Transient("PUT /v2/x/blobs/uploads/1", 502), 4))
    assert not _is_transient(RegistryError("registry", "denied", "log in", rule="registry.unauthorized"))
    assert _is_transient(httpx.ConnectError("refused")) and _is_transient(httpx.RemoteProtocolError("lost"))


def test_retry_after_is_read_as_seconds_or_a_date_and_bounded(monkeypatch):
    from email.utils import formatdate

    from mlenv.oci import registry

    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 50 < retry_after_seconds(formatdate(time.time() + 60, usegmt=True)) <= 60
    monkeypatch.setattr(registry, "MAX_RETRY_AFTER", 2.0)
    state = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: _Transient("GET /v2/", 503, retry_after=3600.0)), attempt_number=1)
    assert registry._wait(state) == 2.0


def test_a_connection_refused_to_the_end_is_unreachable():
    error = unavailable("registry.example:5000", httpx.ConnectError("[Errno 111] Connection refused"), 4)
    assert error.rule == "registry.unreachable"
    assert error.problem == "cannot connect to the registry registry.example:5000 (4 attempts): ConnectError: [Errno 111] Connection refused"
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.unreachable"


def test_a_token_service_failure_names_the_token_service_not_the_push():
    error = unavailable("registry.example", TokenServiceError("https://auth.example/token", 503), 4)
    assert error.rule == "registry.token-service"
    assert error.problem == "the token service https://auth.example/token of the registry registry.example answered HTTP 503 (4 attempts)"
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.token-service"


def test_a_connection_failure_is_the_token_services_only_when_it_went_elsewhere():
    hub = httpx.ConnectError("no name", request=httpx.Request("GET", "https://registry-1.docker.io/v2/library/python/manifests/3"))
    assert unavailable("docker.io", hub, 4).rule == "registry.unreachable"  # Docker Hub's API host is the registry
    realm = httpx.ConnectError("refused", request=httpx.Request("GET", "https://auth.example/token?scope=x"))
    error = unavailable("registry.example", realm, 4)
    assert error.rule == "registry.token-service" and error.problem.startswith("the token service https://auth.example/token of the registry registry.example did not answer")


def test_the_chunk_size_is_bytes_or_a_size_and_a_bad_one_is_named(monkeypatch):
    from mlenv.oci.registry import DEFAULT_CHUNK_SIZE, RegistryStore, upload_chunk_size

    for raw, size in (("", DEFAULT_CHUNK_SIZE), ("1000", 1000), ("512K", 512 * 1024), ("8M", 8 * 1024 * 1024), ("1GiB", 1024 ** 3)):
        monkeypatch.setenv("MLENV_CHUNK_SIZE", raw)
        assert upload_chunk_size() == size
    for raw in ("lots", "0", "-5M", "8T"):
        monkeypatch.setenv("MLENV_CHUNK_SIZE", raw)
        try:
            RegistryStore("registry.example", "team/env")
        except RegistryError as error:
            assert error.where == "MLENV_CHUNK_SIZE" and error.value == raw and "8M" in error.fix
        else:
            raise AssertionError(f"{raw!r} accepted")
