"""The push bench runs end to end (its own registry) with small sizes and prints every row, so
`make bench` cannot rot. Seconds and RSS are printed, never asserted; the bytes and counts are."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests import paths

pytestmark = pytest.mark.integration


def test_the_push_bench_prints_its_rows_and_the_mount_uploads_nothing():
    python_path = os.pathsep.join(str(paths.ROOT / part) for part in ("provider", "sdk", "."))
    done = subprocess.run([sys.executable, "bench/push.py", "--layers", "3", "--layer-mb", "1", "--blob-mb", "8", "--before", "HEAD"],
                          cwd=paths.ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": python_path})
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    pushed = re.search(r"bytes pushed \(blobs uploaded / mounted\)\s+([\d.]+) MB \((\d+)/(\d+)\)\s+([\d.]+) kB \((\d+)/(\d+)\)", done.stdout)
    assert pushed, done.stdout
    upload_mb, uploaded, not_mounted, mount_kb, none_uploaded, mounted = pushed.groups()
    assert float(upload_mb) >= 3.0 and (uploaded, not_mounted) == ("4", "0"), "three layers and the config uploaded"
    assert float(mount_kb) < 10 and (none_uploaded, mounted) == ("0", "4"), "every blob mounted, only the manifest sent"
    assert re.search(r"peak RSS\s+\d+ MB\s+\d+ MB", done.stdout) and "one at a time" in done.stdout
