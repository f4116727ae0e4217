"""bench/ml.py's arithmetic and report (figures are never asserted: these check what the bench prints
and saves for given figures), and its measuring wrapper on a real process."""

from __future__ import annotations

import json
import sys
import zipfile
from datetime import datetime, timezone

import pytest

from bench import ml_limits, ml_report
from bench.ml_meter import RegistryGauge, Step, run_measured

LIMITS = {"gzip -6, 1 core": 25.0, "isal level 1, 1 core": None, "disk write, MB/s": 200.0, "upload to the registry, MB/s": 100.0}


def figures(**changes) -> ml_report.Figures:
    mlenv = {"cold": Step(wall=100.0, cpu=90.0, peak_rss=300_000_000, stored=1_000_000_000, uploaded=1_000_000_000),
             "no-op": Step(wall=0.5, cpu=0.4, peak_rss=40_000_000)}
    docker = {"cold": Step(wall=300.0, cpu=250.0, peak_rss=500_000_000, stored=2_000_000_000, uploaded=2_000_000_000),
              "no-op": Step(wall=1.0, cpu=0.2, peak_rss=100_000_000)}
    values = dict(small=False, packages=33, wheel_bytes=2_900_000_000, installed_bytes=2_000_000_000,
                  steps={"mlenv": mlenv, "docker": docker}, limits=LIMITS, cold_digests=["sha256:a", "sha256:a"])
    return ml_report.Figures(**{**values, **changes})


def test_floors_divide_each_kind_of_work_by_its_own_rate():
    floor = ml_limits.floors(uploaded=500_000_000, unpacked=50 * ml_limits.MIB, limits=LIMITS)
    assert floor == {"gzip -6, 1 core": 2.0, "isal level 1, 1 core": None, "disk write, MB/s": 50 * ml_limits.MIB / 1e6 / 200,
                     "upload to the registry, MB/s": 5.0}


def test_the_report_has_one_row_per_step_with_both_sides_and_the_distance_to_each_limit():
    text = ml_report.markdown(figures())
    assert "| cold | 100.0 | 90.0 | 1000.0 | 1000.0 | 300 | 300.0 | 250.0 | 2000.0 | 2000.0 | 500 |" in text
    assert "| no-op | 0.5 | 0.4 | 0.0 | 0.0 | 40 | 1.0 | 0.2 | 0.0 | 0.0 | 100 |" in text
    assert "| isal level 1, 1 core | not installed |" in text
    # cold: 2 GB unpacked → 76.3 s of gzip at 25 MiB/s (1.3× from 100 s); 1 GB uploaded at 100 MB/s → 10 s (10×)
    assert "| cold | 100.0 | 76.3 s (1.3×) | — | 10.0 s (10.0×) | 10.0 s (10.0×) |" in text
    assert "| no-op | 0.5 | — | — | — | — |" in text
    assert "digests identical (sha256:a, sha256:a)" in text
    assert "digests DIFFER" in ml_report.markdown(figures(cold_digests=["sha256:a", "sha256:b"]))
    assert "NOT COUNTED" in ml_report.markdown(figures(wire_counted=False))


def test_saved_json_holds_every_figure_and_the_commit(tmp_path):
    saved = ml_report.save(figures(), tmp_path, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert saved.name == "bench-ml-20260102T030405Z.json"
    loaded = json.loads(saved.read_text())
    assert loaded["steps"]["docker"]["cold"]["uploaded"] == 2_000_000_000
    assert loaded["limits"]["isal level 1, 1 core"] is None
    assert len(loaded["commit"]) == 40


def test_the_sample_takes_from_every_wheel_in_proportion_to_its_size(tmp_path):
    big, small = tmp_path / "big-1.0-py3-none-any.whl", tmp_path / "small-1.0-py3-none-any.whl"
    for wheel, byte, count in ((big, b"B", 3), (small, b"s", 1)):
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
            for number in range(count):
                archive.writestr(f"part{number}", byte * 10_000)
    sample = ml_limits.write_sample([big, small], tmp_path / "sample", 8_000).read_bytes()
    assert 7_900 <= len(sample) <= 8_000
    assert 5_800 <= sample.count(b"B") <= 6_100 and 1_900 <= sample.count(b"s") <= 2_100
    assert ml_limits.installed_bytes([big, small]) == 40_000


def test_run_measured_reports_the_child_trees_cpu_and_peak_rss_and_fails_loudly(tmp_path):
    (tmp_path / "data").mkdir()
    gauge = RegistryGauge(tmp_path / "data", port=1)  # not entered: nothing counted on the wire
    burn = "import time\nblock = bytearray(200_000_000)\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nprint('done')"
    step, printed = run_measured([sys.executable, "-c", burn], registry=gauge)
    assert printed == "done\n"
    assert step.cpu >= 0.3 and step.wall >= step.cpu * 0.9
    assert step.peak_rss >= 200_000_000 and (step.stored, step.uploaded) == (0, 0)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        run_measured([sys.executable, "-c", "import sys; sys.exit('broken on purpose')"], registry=gauge)


def test_a_run_of_one_side_reports_that_side_and_says_the_digests_were_not_compared():
    only_mlenv = figures(steps={"mlenv": figures().steps["mlenv"]}, cold_digests=["sha256:a"])
    text = ml_report.markdown(only_mlenv)
    assert "| cold | 100.0 | 90.0 | 1000.0 | 1000.0 | 300 |" in text and "| cold | 100.0 | 76.3 s (1.3×)" in text
    assert "digests across caches not compared" in text and "identical" not in text
    only_docker = ml_report.markdown(figures(steps={"docker": figures().steps["docker"]}, cold_digests=[]))
    assert "| cold | 300.0 | 250.0 |" in only_docker and "Distance of each mlenv step" not in only_docker
