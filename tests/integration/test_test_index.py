"""The test index (testbed/pypi_index.py) answers like a real index: a wheel's hash computed once and
again only when the file changes, and requests served side by side, so a resolver's burst of
connections is neither queued behind one slow client nor dropped."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx
import pytest

from testbed import pypi_index, services

pytestmark = pytest.mark.integration

WHEEL = "demo-1.0-py3-none-any.whl"


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "packages"
    folder.mkdir()
    (folder / WHEEL).write_bytes(b"first content")
    server = services.start_pypiserver(folder, tmp_path / "server")
    yield server, folder
    server.stop()


def _listed_sha256(server) -> str:
    page = httpx.get(f"{server.url}demo/", timeout=10).text
    return page.split("#sha256=", 1)[1].split('"', 1)[0]


def test_the_page_names_the_files_current_sha256(served):
    server, folder = served
    assert _listed_sha256(server) == hashlib.sha256(b"first content").hexdigest()
    time.sleep(0.05)  # the new file gets a time of its own
    (folder / WHEEL).write_bytes(b"other content, longer")
    assert _listed_sha256(server) == hashlib.sha256(b"other content, longer").hexdigest()


def test_a_burst_of_connections_is_accepted_and_an_idle_one_blocks_no_other(served):
    server, _ = served
    host, port = server.host.split(":")
    idle = [socket.create_connection((host, int(port)), timeout=0.5) for _ in range(30)]  # a queue of 5 drops most
    try:
        assert httpx.get(f"{server.url}demo/", timeout=5).status_code == 200, "answered beside 30 silent clients"
    finally:
        for connection in idle:
            connection.close()


def test_a_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    computed: list[str] = []
    monkeypatch.setattr(pypi_index, "_hash", lambda path, algo: computed.append(path) or f"{algo}=x")
    pypi_index._digest_of.cache_clear()
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"one")
    assert [pypi_index._digest_once(wheel, "sha256") for _ in range(3)] == ["sha256=x"] * 3
    time.sleep(0.05)
    wheel.write_bytes(b"two!")
    os.utime(wheel)
    pypi_index._digest_once(wheel, "sha256")
    assert computed == [str(wheel)] * 2
