"""The registry client through a fault-injecting proxy in front of the real registry: each fault is
survived on retry or ends in one clear RegistryError, and the requests counted at the proxy show one
retry layer (ATTEMPTS tries of an operation, never tries of tries)."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import httpx
import pytest

from mlenv.diagnostics.errors import RegistryError
from mlenv.oci import registry as registry_module
from mlenv.oci.registry import ATTEMPTS, RegistryStore
from testbed.fault_proxy import FaultProxy, Rule
from testbed.services import free_port

pytestmark = pytest.mark.integration
UPLOADS = r"/blobs/uploads/"
REAL_BACKOFF = registry_module._backoff



@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """The same retries, with shorter pauses between them (Retry-After is still honoured as given)."""
    from tenacity import wait_exponential

    monkeypatch.setattr(registry_module, "_backoff", wait_exponential(multiplier=0.02, max=0.2))

def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _stored(registry, repository: str, data: bytes) -> bool:
    """Asked of the registry itself, not through the proxy."""
    response = httpx.get(f"{registry.url}/v2/{repository}/blobs/{_digest(data)}")
    return response.status_code == 200 and response.content == data


def _push(proxy, repository: str, data: bytes, tmp_path=None) -> RegistryStore:
    store = RegistryStore(proxy.host, repository)
    if tmp_path is None:
        store.put_blob_bytes(_digest(data), data)
    else:
        (tmp_path / "blob").write_bytes(data)
        store.put_blob_file(_digest(data), tmp_path / "blob")
    return store


def test_a_503_on_every_patch_is_four_uploads_not_sixteen(fault_proxy, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "64K")
    data = os.urandom(300_000)
    fault_proxy.set_rules(Rule("status", "PATCH", UPLOADS, times=100))
    with pytest.raises(RegistryError) as caught:
        _push(fault_proxy, "faults/patch503", data, tmp_path)
    assert caught.value.rule == "registry.unavailable"
    assert caught.value.problem.startswith(f"the registry {fault_proxy.host} answered HTTP 503 to PATCH /v2/faults/patch503/blobs/uploads/")
    assert caught.value.problem.endswith(f"({ATTEMPTS} attempts)")
    assert fault_proxy.count("POST", UPLOADS) == ATTEMPTS == fault_proxy.count("PATCH", UPLOADS)
    assert not _stored(registry, "faults/patch503", data)


def test_a_passing_503_on_the_final_put_starts_a_fresh_upload(fault_proxy, registry):
    data = os.urandom(50_000)
    fault_proxy.set_rules(Rule("status", "PUT", UPLOADS, times=2))
    store = _push(fault_proxy, "faults/put503", data)
    assert _stored(registry, "faults/put503", data) and store.bytes_pushed == len(data)
    assert fault_proxy.count("POST", UPLOADS) == 3 and fault_proxy.count("PUT", UPLOADS) == 3


def test_a_lost_answer_to_the_final_put_is_not_an_error(fault_proxy, registry):
    """The PUT stored the blob, then the connection dropped: a HEAD finds it, no PUT to a consumed URL."""
    data = os.urandom(50_000)
    fault_proxy.set_rules(Rule("lose-response", "PUT", UPLOADS))
    _push(fault_proxy, "faults/lostput", data)
    assert _stored(registry, "faults/lostput", data)
    assert fault_proxy.count("PUT", UPLOADS) == 1 and fault_proxy.count("POST", UPLOADS) == 1
    assert fault_proxy.count("HEAD", "/blobs/sha256:", "forwarded 200") == 1


def test_a_lost_answer_to_a_chunk_starts_a_fresh_upload(fault_proxy, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "64K")
    data = os.urandom(200_000)
    fault_proxy.set_rules(Rule("lose-response", "PATCH", UPLOADS))
    _push(fault_proxy, "faults/lostpatch", data, tmp_path)
    assert _stored(registry, "faults/lostpatch", data) and fault_proxy.count("POST", UPLOADS) == 2


@pytest.mark.parametrize("method", ["PUT", "POST", "HEAD"])
def test_a_connection_reset_mid_request_is_retried(fault_proxy, registry, method):
    data = os.urandom(80_000)
    fault_proxy.set_rules(Rule("reset-request", method, r"/blobs/"))
    if method == "HEAD":
        assert RegistryStore(fault_proxy.host, "faults/reset-head").has_blob(_digest(data)) is False
    _push(fault_proxy, f"faults/reset-{method.lower()}", data)
    assert _stored(registry, f"faults/reset-{method.lower()}", data)
    assert fault_proxy.count(method, r"/blobs/", "reset-request") == 1


def test_a_download_reset_mid_body_is_fetched_again_whole(fault_proxy, registry, tmp_path):
    data = os.urandom(400_000)
    store = _push(fault_proxy, "faults/download", data)
    fault_proxy.set_rules(Rule("reset-response", "GET", r"/blobs/sha256:"))
    assert store.save_blob(_digest(data), tmp_path / "copy").read_bytes() == data
    assert fault_proxy.count("GET", r"/blobs/sha256:") == 2


def test_retry_after_is_honoured(fault_proxy, registry):
    data = os.urandom(1000)
    fault_proxy.set_rules(Rule("status", "POST", UPLOADS, status=429, retry_after="1"))
    started = time.monotonic()
    _push(fault_proxy, "faults/retryafter", data)
    assert time.monotonic() - started >= 1.0 and _stored(registry, "faults/retryafter", data)


def test_a_huge_retry_after_is_bounded(fault_proxy, registry, monkeypatch):
    monkeypatch.setattr(registry_module, "MAX_RETRY_AFTER", 0.5)
    fault_proxy.set_rules(Rule("status", "HEAD", r"/blobs/", status=503, retry_after="3600"))
    started = time.monotonic()
    assert RegistryStore(fault_proxy.host, "faults/bounded").has_blob(_digest(b"x")) is False
    assert time.monotonic() - started < 5


def test_a_delay_is_waited_out(fault_proxy, registry):
    data = os.urandom(1000)
    fault_proxy.set_rules(Rule("delay", "PUT", UPLOADS, delay=1.5))
    _push(fault_proxy, "faults/delay", data)
    assert _stored(registry, "faults/delay", data) and fault_proxy.count("PUT", UPLOADS) == 1


def test_connection_refused_is_retried_until_the_registry_answers(registry, monkeypatch):
    monkeypatch.setattr(registry_module, "_backoff", REAL_BACKOFF)  # 0.2 + 0.4 + 0.8 s: the registry comes up at 0.3 s
    port = free_port()
    late: list[FaultProxy] = []
    starter = threading.Timer(0.3, lambda: late.append(FaultProxy(registry.host, port=port).start()))
    starter.start()
    try:
        assert RegistryStore(f"127.0.0.1:{port}", "faults/refused").has_blob(_digest(b"nothing")) is False
    finally:
        starter.join()
        for proxy in late:
            proxy.stop()


def test_connection_refused_to_the_end_is_one_clear_error():
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as caught:
        RegistryStore(host, "faults/nothing").has_blob(_digest(b"x"))
    assert caught.value.rule == "registry.unreachable"
    assert caught.value.problem.startswith(f"cannot connect to the registry {host} ({ATTEMPTS} attempts): ConnectError")


@pytest.mark.parametrize("status", [404, 405])
def test_a_refused_mount_falls_back_to_an_upload(fault_proxy, registry, status):
    data = os.urandom(5000)
    _push(fault_proxy, "faults/mount-source", data)
    fault_proxy.set_rules(Rule("status", "POST", r"mount=", status=status))
    store = RegistryStore(fault_proxy.host, f"faults/mount-{status}")
    assert store.mount_blob(_digest(data), "faults/mount-source") is False
    store.put_blob_bytes(_digest(data), data)
    assert _stored(registry, f"faults/mount-{status}", data)


def test_a_capped_body_is_a_clear_413_and_chunks_fit_under_the_cap(fault_proxy, registry, tmp_path, monkeypatch):
    data = os.urandom(500_000)
    fault_proxy.set_rules(body_limit=200_000)
    with pytest.raises(RegistryError) as caught:
        _push(fault_proxy, "faults/capped", data, tmp_path)
    assert caught.value.rule == "registry.body-too-large"
    assert "500000-byte body was refused as too large (HTTP 413)" in caught.value.problem
    assert "MLENV_CHUNK_SIZE" in caught.value.fix and fault_proxy.count("PUT", UPLOADS) == 1, "a 413 is not retried"
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "128K")
    _push(fault_proxy, "faults/capped", data, tmp_path)
    assert _stored(registry, "faults/capped", data) and fault_proxy.count("PATCH", UPLOADS, "forwarded 202") == 4


def test_a_401_once_fetches_a_token_and_goes_on(fault_proxy, registry):
    data = os.urandom(1000)
    fault_proxy.set_rules(Rule("challenge", "POST", UPLOADS))
    _push(fault_proxy, "faults/challenge", data)
    assert _stored(registry, "faults/challenge", data)
    assert fault_proxy.count("GET", "^/token") == 1 and fault_proxy.count("POST", UPLOADS) == 2


def test_a_failing_token_service_is_named_not_the_push(fault_proxy):
    fault_proxy.set_rules(Rule("challenge", path="^/v2/", times=100), Rule("status", "GET", "^/token", times=100))
    with pytest.raises(RegistryError) as caught:
        _push(fault_proxy, "faults/token503", b"data")
    assert caught.value.rule == "registry.token-service"
    assert caught.value.problem == f"the token service http://{fault_proxy.host}/token of the registry {fault_proxy.host} answered HTTP 503 ({ATTEMPTS} attempts)"
    assert fault_proxy.count("GET", "^/token") == ATTEMPTS


def test_a_token_service_refusing_the_login_is_named(fault_proxy):
    fault_proxy.set_rules(Rule("challenge", path="^/v2/", times=100), Rule("status", "GET", "^/token", status=401, times=100))
    with pytest.raises(RegistryError) as caught:
        _push(fault_proxy, "faults/token401", b"data")
    assert caught.value.rule == "registry.unauthorized" and fault_proxy.count("GET", "^/token") == 1
    assert caught.value.problem == f"the token service http://{fault_proxy.host}/token of {fault_proxy.host}/faults/token401 answered HTTP 401 without a login"


def test_the_proxy_bounds_its_rules():
    with pytest.raises(ValueError):
        Rule("status", times=0)
    with pytest.raises(ValueError):
        Rule("explode")
    with pytest.raises(ValueError):
        FaultProxy("example.com:80")
