"""The image's time is derived from what it holds: the newest package's own time, else the base's."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlenv.builders.created import image_created, parse_time


@dataclass
class Record:  # what rattler's records offer: a timestamp, sometimes none
    timestamp: datetime | None


@dataclass
class Base:
    config: dict


def wheel(path: Path, *dates: tuple) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for index, date in enumerate(dates):
            archive.writestr(zipfile.ZipInfo(f"pkg/file{index}.py", date_time=date), "x = 1\n")
    return path


def test_the_newest_file_of_any_wheel_dates_the_image(tmp_path):
    old = wheel(tmp_path / "old-1.0-py3-none-any.whl", (2021, 3, 4, 5, 6, 8), (2022, 1, 1, 0, 0, 0))
    new = wheel(tmp_path / "new-1.0-py3-none-any.whl", (2024, 2, 5, 21, 26, 12))
    base = Base({"created": "2023-06-01T10:00:00.123456789Z"})
    assert image_created(wheel_files=[old, new], base=base) == "2024-02-05T21:26:12Z"
    assert image_created(wheel_files=[old], base=base) == "2023-06-01T10:00:00Z"  # never older than its base


def test_a_normalized_wheel_tells_no_time_and_conda_timestamps_count(tmp_path):
    normalized = wheel(tmp_path / "n-1.0-py3-none-any.whl", (1980, 1, 1, 0, 0, 0))
    records = [Record(datetime(2024, 7, 1, 8, 30, 0, 781000, tzinfo=timezone.utc)), Record(None)]
    assert image_created(wheel_files=[normalized], base=Base({"created": "1970-01-01T00:00:00Z"})) == "1970-01-01T00:00:00Z"
    assert image_created(wheel_files=[normalized], conda_records=records) == "2024-07-01T08:30:00Z"


def test_without_packages_the_base_created_is_kept_and_odd_values_are_ignored():
    assert image_created(base=Base({"created": "2025-01-02T03:04:05+02:00"})) == "2025-01-02T01:04:05Z"
    assert image_created(base=Base({"created": "yesterday"})) == "1970-01-01T00:00:00Z"
    assert image_created() == "1970-01-01T00:00:00Z"
    assert parse_time(None) is None and parse_time(42) is None
