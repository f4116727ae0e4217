"""The bench's conda section runs end to end (its own registry, index and conda channel) and prints its
rows, so `make bench` cannot rot. Timings are printed by the bench, never asserted here; bytes are."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests import paths

pytestmark = pytest.mark.integration

CELL = r"[\d.]+ m?s, ([\d.]+) (B|kB|MB) pushed(?:, (\d+) MB peak RSS)?"
UNIT = {"B": 1, "kB": 1e3, "MB": 1e6}
STEPS = ["cold build (`mlenv build` process)", "one-pin change (`mlenv build` process)",
         "no-op, in process (median)", "no-op, `mlenv build` process (median)"]


@pytest.fixture(scope="module")
def printed() -> str:
    python_path = os.pathsep.join(str(paths.ROOT / part) for part in ("provider", "sdk", "."))
    done = subprocess.run([sys.executable, "bench/run.py", "--only", "conda", "--noop-runs", "2"], cwd=paths.ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": python_path})
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)  # the figures, for `pytest -s`
    return done.stdout


def rows(printed: str) -> dict[str, list[tuple[float, int]]]:
    """Each step's cells as (bytes pushed, MB peak RSS or 0), conda first, pip-only second."""
    found = {}
    for step in STEPS:
        line = next((line for line in printed.splitlines() if line.startswith(step)), None)
        assert line is not None, f"no row {step!r} in:\n{printed}"
        cells = re.findall(CELL, line[len(step):])
        assert len(cells) == 2, line
        found[step] = [(float(pushed) * UNIT[unit], int(rss or 0)) for pushed, unit, rss in cells]
    return found


def test_the_conda_section_prints_both_environments_and_what_they_hold(printed):
    header = printed[: printed.index("step ")]
    assert "7 records: chain-a, chain-b, chain-c, mlhello, pip, python, tinylib" in header
    assert "pip-only: Debian bookworm's python3 + pip six==1.16.0 requests" in header
    assert "conda tinylib=2.0 → tinylib=1.0; pip-only six==1.16.0 → six==1.17.0" in header
    assert re.search(r"step\s+conda\s+pip-only", printed)


def test_cold_pushes_most_a_pin_change_little_and_a_no_op_nothing(printed):
    table = rows(printed)
    for side in (0, 1):
        cold, pin = table[STEPS[0]][side], table[STEPS[1]][side]
        assert cold[0] > 0 and cold[1] > 0 and pin[1] > 0  # processes report their peak RSS
        assert 0 < pin[0] < cold[0]
        assert table[STEPS[2]][side] == (0.0, 0) and table[STEPS[3]][side] == (0.0, 0)
    assert table[STEPS[0]][0][0] > table[STEPS[0]][1][0]  # the conda side pushes its own Python
