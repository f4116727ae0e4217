"""Blob uploads against the real registry: streamed from disk in small pieces (bounded memory, not a
chunk or a blob at a time), and an interrupted chunked upload continued from the offset the registry
reports instead of from byte 0 (through the fault proxy)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import httpx
import pytest

from mlenv.oci import registry as registry_module
from mlenv.oci.registry import RegistryStore
from mlenv.oci.upload_body import PIECE, confirmed_offset
from testbed.fault_proxy import Rule

pytestmark = pytest.mark.integration
UPLOADS = "/blobs/uploads/"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    from tenacity import wait_exponential

    monkeypatch.setattr(registry_module, "_backoff", wait_exponential(multiplier=0.02, max=0.2))


def _blob(tmp_path, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    (tmp_path / "blob").write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _stored(registry, repository: str, digest: str, data: bytes) -> bool:
    response = httpx.get(f"{registry.url}/v2/{repository}/blobs/{digest}")
    return response.status_code == 200 and response.content == data


@pytest.mark.parametrize("chunk", [None, "8M"], ids=["one PUT", "8M chunks"])
def test_an_upload_holds_a_few_pieces_not_the_blob(registry, tmp_path, monkeypatch, chunk):
    if chunk:
        monkeypatch.setenv("MLENV_CHUNK_SIZE", chunk)
    digest, data = _blob(tmp_path, 30 * MIB)  # under the default 32M chunk: one PUT, read whole before
    store = RegistryStore(registry.host, f"memory/{'chunked' if chunk else 'whole'}")
    tracemalloc.start()
    try:
        store.put_blob_file(digest, tmp_path / "blob")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert _stored(registry, store.repository, digest, data)
    assert peak < 6 * PIECE, f"the upload held {peak / MIB:.1f} MiB at its peak"


def test_a_reset_mid_patch_continues_from_the_registry_offset(fault_proxy, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "64K")
    digest, data = _blob(tmp_path, 300_000)  # 5 chunks; the third one's connection is reset mid-body
    fault_proxy.set_rules(Rule("reset-request", "PATCH", UPLOADS, after=2))
    store = RegistryStore(fault_proxy.host, "faults/resume")
    store.put_blob_file(digest, tmp_path / "blob")
    assert _stored(registry, "faults/resume", digest, data) and store.bytes_pushed == len(data)
    assert fault_proxy.count("PATCH", UPLOADS, "reset-request") == 1
    assert fault_proxy.count("POST", UPLOADS) == 1, "the same upload session went on"
    assert fault_proxy.count("GET", UPLOADS, "forwarded 204") == 1, "asked once where the session stands"
    assert fault_proxy.count("PATCH", UPLOADS, "forwarded 202") == 5, "each chunk reached the registry once: none from byte 0 again"


def test_a_session_the_registry_forgot_starts_afresh(fault_proxy, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "64K")
    digest, data = _blob(tmp_path, 200_000)
    fault_proxy.set_rules(Rule("reset-request", "PATCH", UPLOADS, after=1), Rule("status", "GET", UPLOADS, status=404))
    store = RegistryStore(fault_proxy.host, "faults/resume-forgotten")
    store.put_blob_file(digest, tmp_path / "blob")
    assert _stored(registry, "faults/resume-forgotten", digest, data)
    assert fault_proxy.count("POST", UPLOADS) == 2 and fault_proxy.count("GET", UPLOADS, "status") == 1


def test_a_lost_answer_to_a_chunk_is_not_resumed_past_what_the_registry_holds(fault_proxy, registry, tmp_path, monkeypatch):
    """The chunk arrived but its answer did not: the session's old URL no longer matches what the
    registry holds, so it answers no Range and the upload starts a fresh session (never a gap)."""
    monkeypatch.setenv("MLENV_CHUNK_SIZE", "64K")
    digest, data = _blob(tmp_path, 200_000)
    fault_proxy.set_rules(Rule("lose-response", "PATCH", UPLOADS, after=1))
    store = RegistryStore(fault_proxy.host, "faults/resume-lost")
    store.put_blob_file(digest, tmp_path / "blob")
    assert _stored(registry, "faults/resume-lost", digest, data)


def test_the_registry_range_gives_the_next_offset():
    assert confirmed_offset("0-65535", 0) == 65536
    assert confirmed_offset("0-0", 0) == 0, "Distribution's answer for an empty session"
    assert confirmed_offset("bytes=0-99", 50) == 100
    assert confirmed_offset("", 10) is None and confirmed_offset("10-20", 0) is None
