"""The registry client against the real Distribution registry, and its auth/retry logic."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from mlenv.oci.auth import Credentials, RegistryAuth
from mlenv.oci.registry import RegistryStore, is_insecure_host


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.integration
def test_chunked_upload_round_trips(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "4096")
    data = os.urandom(10_000)  # three chunks: 4096 + 4096 + 1808
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    store = RegistryStore(registry.host, "chunks/test")
    store.put_blob_file(_digest(data), blob)
    assert store.has_blob(_digest(data))
    assert store.get_blob(_digest(data)) == data
    assert store.bytes_pushed == len(data)


@pytest.mark.integration
def test_mount_from_a_repository_without_the_blob_falls_back(registry):
    store = RegistryStore(registry.host, "mount/target")
    data = b"never uploaded anywhere"
    assert store.mount_blob(_digest(data), "mount/source") is False
    store.put_blob_bytes(_digest(data), data)
    other = RegistryStore(registry.host, "mount/other")
    assert other.mount_blob(_digest(data), "mount/target") is True
    assert other.has_blob(_digest(data)) and other.bytes_pushed == 0


@pytest.mark.integration
def test_wrong_digest_is_refused_and_leaves_nothing(registry):
    store = RegistryStore(registry.host, "digest/test")
    claimed = _digest(b"something else")
    with pytest.raises(Exception):
        store.put_blob_bytes(claimed, b"actual bytes")
    assert not store.has_blob(claimed)


def test_loopback_hosts_use_plain_http_like_docker():
    assert is_insecure_host("127.0.0.1:5000") and is_insecure_host("localhost:5000") and is_insecure_host("[::1]:5000")
    assert not is_insecure_host("ghcr.io") and not is_insecure_host("10.0.0.1:5000")


# -- bearer flow and retries: no token server runs on this machine, so the token service is an
#    httpx.MockTransport speaking the Docker token protocol (the registry side is tested for real above).

def _token_registry(seen: list):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/token":
            assert request.url.params["scope"] == "repository:team/env:pull"
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(200, json={"token": "tok-123"})
        if request.headers.get("authorization") != "Bearer tok-123":
            challenge = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:team/env:pull"'
            return httpx.Response(401, headers={"www-authenticate": challenge})
        return httpx.Response(200)
    return handler


def test_bearer_challenge_fetches_a_token_once_and_reuses_it():
    seen: list = []
    client = httpx.Client(auth=RegistryAuth(Credentials("u", "p")), transport=httpx.MockTransport(_token_registry(seen)))
    assert client.head("https://reg.example/v2/team/env/blobs/sha256:abc").status_code == 200
    assert client.head("https://reg.example/v2/team/env/blobs/sha256:def").status_code == 200
    assert [path for _, path, _ in seen].count("/token") == 1
    assert seen[-1][2] == "Bearer tok-123"


def test_transient_errors_are_retried(monkeypatch):
    answers = iter([httpx.Response(503), httpx.Response(502), httpx.Response(200)])
    store = RegistryStore("registry.example", "team/env")
    store._client = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    assert store.has_blob("sha256:" + "0" * 64)


def test_credentials_never_show_in_repr():
    assert "p4ss" not in repr(Credentials("user", "p4ss"))
