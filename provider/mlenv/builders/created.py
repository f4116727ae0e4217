"""When an image was "created": a time derived from what it holds, never the build's clock, so the
same lock gives the same config and manifest digest on any machine and on any day.

The newest of: the locked packages' own times (a wheel's newest file date; a conda package's
`timestamp` from its channel's repodata) and the base image's `created` (an image is no older than
the base it stands on). A wheel normalized to the zip format's first day (1980-01-01, what
reproducible wheel builds write) tells no time and is passed over. With nothing known, the epoch.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ZIP_FIRST_DAY = datetime(1980, 1, 2, tzinfo=timezone.utc)  # dates before this say "normalized", not when
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def image_created(*, wheel_files: Iterable[Path] = (), conda_records: Iterable = (), base=None) -> str:
    """The image's `created`, RFC 3339 in UTC to the second: the newest time its parts tell."""
    times = [wheel_time(path) for path in wheel_files]
    times += [_utc(record.timestamp) for record in conda_records if getattr(record, "timestamp", None)]
    times.append(parse_time((base.config or {}).get("created") if base else None))
    return format_time(max((t for t in times if t), default=EPOCH))


def wheel_time(path: Path) -> datetime | None:
    """The newest file date in a wheel (zip dates have no zone: read as UTC), None when normalized."""
    with zipfile.ZipFile(path) as archive:
        newest = max((info.date_time for info in archive.infolist()), default=None)
    when = datetime(*newest, tzinfo=timezone.utc) if newest else None
    return when if when and when >= _ZIP_FIRST_DAY else None


def parse_time(text: str | None) -> datetime | None:
    """An image config's `created` (RFC 3339, nanoseconds allowed), None when absent or unreadable."""
    found = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if not found:
        return None
    zone = found.group(2) or "Z"
    when = datetime.fromisoformat(found.group(1) + ("+00:00" if zone == "Z" else zone))
    return _utc(when)


def format_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
