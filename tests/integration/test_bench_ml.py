"""`make bench-ml ARGS=--small` runs end to end (its own registry, index and Docker builds) and leaves
nothing behind but its JSON. Not in `make test` (a few minutes of Docker builds): marked `bench`, which
pyproject's addopts deselects; run it with `pytest -m bench tests/integration/test_bench_ml.py`.
Timings are printed, never asserted; what must hold whatever the machine is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import paths

pytestmark = [pytest.mark.integration, pytest.mark.bench]
SCENARIOS = ["cold", "warm cache, new repository", "one-pin change", "no-op", "no-op, repeated"]


@pytest.fixture(scope="module")
def small_run() -> tuple[str, dict]:
    python_path = os.pathsep.join(str(paths.ROOT / part) for part in ("provider", "sdk", "."))
    done = subprocess.run([sys.executable, "bench/ml.py", "--small"], cwd=paths.ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": python_path})
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)  # the figures, for `pytest -s`
    saved = Path(done.stdout.rsplit("written to ", 1)[1].strip())
    figures = json.loads(saved.read_text())
    saved.unlink()
    return done.stdout, figures


def test_the_table_has_every_step_for_both_sides_and_the_limits(small_run):
    printed, figures = small_run
    for scenario in SCENARIOS:
        assert any(line.startswith(f"| {scenario} | ") and line.count("|") == 12 for line in printed.splitlines()), scenario
    assert set(figures["steps"]) == {"mlenv", "docker"} and all(list(side) == SCENARIOS for side in figures["steps"].values())
    assert figures["limits"]["gzip -6, 1 core"] > 0 and figures["limits"]["upload to the registry, MB/s"] > 0


def test_cold_stores_layers_a_no_op_nothing_and_two_cold_builds_agree(small_run):
    _, figures = small_run
    mlenv, docker = figures["steps"]["mlenv"], figures["steps"]["docker"]
    assert mlenv["cold"]["stored"] > 0 and docker["cold"]["stored"] > 0
    assert mlenv["no-op"]["extra"]["cache_hit"] and mlenv["no-op"]["stored"] == 0
    assert mlenv["no-op"]["uploaded"] < 100_000  # requests' headers only: a no-op sends no blob
    repeated = mlenv["no-op, repeated"]
    assert repeated["extra"]["cache_hit"] and repeated["extra"]["digest"] == mlenv["no-op"]["extra"]["digest"] and repeated["uploaded"] < 100_000
    assert all(step["cpu"] > 0 and step["peak_rss"] > 0 for step in (mlenv["cold"], docker["cold"]))
    first, second = figures["cold_digests"]
    assert first == second and first.startswith("sha256:")


def test_nothing_but_the_wheels_is_left(small_run):
    from testbed.services import CACHE

    assert not (CACHE / "bench-ml-run").exists()
    images = subprocess.run(["docker", "images", "--format", "{{.Repository}}"], capture_output=True, text=True, check=True).stdout
    assert "/bench-ml/" not in images
    assert (CACHE / "bench-ml-wheels" / ".complete").exists()
