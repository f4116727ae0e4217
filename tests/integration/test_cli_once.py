"""Issue 11, item 12: a build error is printed once, a registry error names its host, `validate`
answers for every unpinned package (in parallel, once per run), and `hash` refuses what `validate` rejects."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlenv.resolve import preview
from testbed.services import free_port

MLENV = [sys.executable, "-m", "mlenv.cli"]
PINNED_BASE = "registry.example/base/python@sha256:" + "c" * 64
ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin=None):
    return subprocess.run([*MLENV, *args], capture_output=True, text=True, input=stdin)


def test_a_build_error_is_printed_once(tmp_path):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED_BASE}\npip: [six==1.16.0]\n")
    closed = f"127.0.0.1:{free_port()}"
    done = run("build", str(env), "--registry", f"{closed}/team/env")
    assert done.returncode == 2
    everything = done.stdout + done.stderr
    assert everything.count(f"cannot connect to the registry {closed}") == 1, everything
    assert "diagnosis: registry.unreachable" in done.stderr and "full log:" in done.stderr
    log = Path(done.stderr.split("full log: ")[1].strip())
    assert f"error: registry: cannot connect to the registry {closed}" in log.read_text()  # the saved log keeps it for `mlenv diagnose`


@pytest.mark.parametrize(("line", "host"), [
    ('Get "https://reg.example:5000/v2/": dial tcp: lookup reg.example on 127.0.0.53:53: no such host', "reg.example"),
    ('Error response from daemon: Get "https://reg.example:5000/v2/": no such host', "reg.example:5000"),
    ("dial tcp 10.0.0.7:5000: connect: connection refused", "10.0.0.7:5000"),
    ("dial tcp: lookup registry on 127.0.0.11:53: no such host", "registry"),
])
def test_a_registry_error_names_its_host(line, host):
    cause = run("diagnose", "-", stdin=line + "\n").stdout.splitlines()[1]
    assert cause == f"   cause: the registry {host} does not answer"


def test_a_registry_error_without_a_host_says_so():
    cause = run("diagnose", "-", stdin="lookup failed: no such host\n").stdout.splitlines()[1]
    assert "the registry  does" not in cause and "(host not named in the log)" in cause


def test_validate_answers_every_unpinned_package_when_one_has_no_wheel(tmp_path, index):
    """oldpython's wheels stop at CPython 3.10: the joint resolution fails, the others still get an answer."""
    env = tmp_path / "env.yml"
    env.write_text(f"image: {PINNED_BASE}\npython: {{version: '3.11'}}\npip: [six, requests, tqdm, oldpython]\n")
    done = run("validate", "--index-url", index.url, str(env))
    assert done.returncode == 0, done.stdout
    for pin in ("six==1.17.0", "requests==2.32.3", "tqdm==4.66.5"):
        assert f"it would lock to {pin} today" in done.stdout
    assert "pip.oldpython: unpinned (oldpython): it locks to the newest matching version at the first build" in done.stdout


def test_unpinned_lookups_run_once_per_run(index, index_settings, monkeypatch):
    from mlenv.definition.load import from_mapping
    from mlenv.resolve import pip_lock

    calls = []
    real = pip_lock.preview_versions
    monkeypatch.setattr(pip_lock, "preview_versions", lambda spec, idx: calls.append(1) or real(spec, idx))
    monkeypatch.setattr(preview, "_answers", {})
    spec = from_mapping({"image": PINNED_BASE, "python": {"version": "3.11"}, "pip": ["six", "tqdm"]})
    started = time.monotonic()
    first = preview.locked_versions(spec, index_settings)
    again = preview.locked_versions(spec, index_settings)
    assert first == again == {"six": "1.17.0", "tqdm": "4.66.5"}
    assert len(calls) == 1
    print(f"\nunpinned look-up: {time.monotonic() - started:.2f}s for two asks (one resolution)")


def definitions() -> list[Path]:
    base = ROOT / "tests" / "fixtures" / "definitions"
    return sorted(p for p in base.rglob("*") if p.suffix in (".yml", ".yaml", ".json", ".txt") and "PROVENANCE" not in p.name)


def test_hash_refuses_exactly_what_validate_rejects():
    """Over every definition fixture: `hash` exits 1 exactly when `validate` finds an error."""
    disagree = []
    for path in definitions():
        validated = run("validate", "--offline", "--image", PINNED_BASE, str(path))
        hashed = run("hash", "--image", PINNED_BASE, str(path))
        assert "Traceback" not in validated.stderr + hashed.stderr, path
        if (validated.returncode == 0) != (hashed.returncode == 0):
            disagree.append(f"{path.relative_to(ROOT)}: validate {validated.returncode}, hash {hashed.returncode}")
    assert not disagree, disagree
