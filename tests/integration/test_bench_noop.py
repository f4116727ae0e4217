"""The bench's no-op table runs end to end (its own registry, index, conda channel and engine) and
prints every row, so `make bench` cannot rot. Its times are printed, never asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests import paths

pytestmark = pytest.mark.integration

ROWS = ["`mlenv build` replayed, pip definition", "`mlenv build`, the same, full path (not replayed)", "`mlenv build` replayed, conda definition",
        "`docker build`, the pip definition's Dockerfile, fully cached", "`pulumi up` no-op per resource"]


def test_the_noop_table_prints_every_row_with_a_time(docker_engine):
    python_path = os.pathsep.join(str(paths.ROOT / part) for part in ("provider", "sdk", "."))
    done = subprocess.run([sys.executable, "bench/noop.py", "--runs", "1", "--resources", "2"], cwd=paths.ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": python_path})
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)  # the figures, for `pytest -s`
    for row in ROWS:
        line = next((line for line in done.stdout.splitlines() if line.startswith(row)), None)
        assert line is not None, f"no row {row!r} in:\n{done.stdout}"
        assert float(re.search(r"([\d.]+) ms", line)[1]) > 0, line
