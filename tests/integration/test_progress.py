"""Issue 13 item 8: a build shows its long work (packages downloaded, layers packed, blobs pushed, bytes
and rates) without flooding: a few plain lines when its output is no terminal, one status line redrawn
on a terminal (ending with the totals), and rate-limited log lines from the provider in `pulumi up`."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
PIP = ["requests", "tqdm==4.66.5", "six==1.17.0"]  # requests brings certifi, charset-normalizer, idna, urllib3: 7 wheels (and the venv's pip)
PROGRESS_LINES = 3 + 2  # a line per stage started (downloaded, packed, pushed), one per 5 s of a short build


def _env_file(tmp_path, base_image: str, pip: list[str]):
    path = tmp_path / "env.yml"
    path.write_text(json.dumps({"image": base_image, "pip": pip}))
    return path


def _environment(tmp_path, index) -> dict:
    return {**os.environ, "MLENV_CACHE_DIR": str(tmp_path / "cache"), "MLENV_INDEX_URL": index.url}  # an empty cache: all downloaded


def _totals(summary: str) -> tuple[int, int, int]:
    found = re.search(r"downloaded (\d+) packages .*; packed (\d+) layers .*; pushed (\d+) blobs", summary)
    assert found, summary
    return int(found[1]), int(found[2]), int(found[3])


def test_a_build_not_on_a_terminal_prints_a_few_progress_lines_and_the_totals(tmp_path, registry, base_image, index):
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "build", str(_env_file(tmp_path, base_image, PIP)), "--registry", f"{registry.host}/progress/plain"],
                          capture_output=True, text=True, env=_environment(tmp_path, index), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    progress = [line for line in lines if line.startswith("progress: ")]
    assert 3 <= len(progress) <= PROGRESS_LINES, progress
    summary = next(line for line in lines if line.startswith("done in "))
    wheels = len(json.loads(subprocess.run([sys.executable, "-m", "mlenv.cli", "build", str(_env_file(tmp_path, base_image, PIP)), "--registry",
                                            f"{registry.host}/progress/plain", "--json"], capture_output=True, text=True, env=_environment(tmp_path, index),
                                           check=True).stdout)["packages"])  # the cache hit's outputs: every wheel locked (pip's own too)
    assert _totals(summary) == (wheels, wheels + 1, wheels + 2)  # a layer per wheel plus the venv's; every layer and the config pushed
    assert "\r" not in done.stdout + done.stderr


def test_a_build_on_a_terminal_redraws_one_status_line_and_ends_with_the_totals(tmp_path, registry, base_image, index):
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "mlenv.cli", "build", str(_env_file(tmp_path, base_image, ["six==1.16.0", "idna==3.10"])),
               "--registry", f"{registry.host}/progress/tty"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=_environment(tmp_path, index))
    os.close(terminal)
    shown = _read_all(controller, process)
    stdout = process.stdout.read().decode()
    assert process.wait(60) == 0, shown + stdout
    assert "\r\x1b[Kprogress: downloaded" in shown  # drawn in place
    final = shown.rsplit("\r\x1b[K", 1)[1]
    assert final.startswith("done in ") and final.endswith("\r\n") and _totals(final) == (3, 4, 5), repr(shown[-400:])  # six, idna, the venv's pip
    assert "progress:" not in stdout and "locked 3 packages" in stdout  # the log stays on its own stream


def _read_all(controller: int, process: subprocess.Popen) -> str:
    chunks, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(controller)
    return b"".join(chunks).decode(errors="replace")


def test_pulumi_up_shows_rate_limited_progress_from_the_provider(tmp_path, registry, base_image, index):
    inputs = {"image": base_image, "pip": PIP, "repository": f"{registry.host}/progress/provider"}
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(tmp_path / "provider-cache")}) as process:
        created = Stack(process, type_token="pulumi-python:dynamic/mlenv:Environment").up("env", EnvironmentProvider(), inputs)
        stderr = process.stderr
    assert created.op == "create", created.error
    progress = [line for line in stderr.splitlines() if line.startswith("mlenv: progress: ")]
    assert 3 <= len(progress) <= PROGRESS_LINES, stderr
    summary = next(line for line in stderr.splitlines() if line.startswith("mlenv: done in "))
    assert _totals(summary) == (8, 9, 10)  # the 7 wheels PIP locks, the venv's pip; a layer each and the venv's
