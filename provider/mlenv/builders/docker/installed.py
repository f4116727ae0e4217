"""Run by the Docker builder inside the image, right after each `pip install` of locked wheels (in the
same RUN, so in the same layer): the packages pip just installed get the metadata the daemonless
builder writes with `installer`, so one definition's two images agree. pip cannot be told what to
write: INSTALLER becomes `mlenv` (was `pip`), pip's REQUESTED marker goes, and RECORD says so.
Only packages whose INSTALLER still says `pip` are touched, so earlier layers' files are left as
they are (rewriting them would copy them into this layer). Standard library only: it runs on the
base image's Python."""

import base64
import csv
import hashlib
import io
import sys
import sysconfig
from pathlib import Path

INSTALLER = b"mlenv\n"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def normalize(info: Path) -> bool:
    installer = info / "INSTALLER"
    if not installer.is_file() or installer.read_bytes() != b"pip\n":
        return False
    installer.write_bytes(INSTALLER)
    (info / "REQUESTED").unlink(missing_ok=True)
    record = info / "RECORD"
    rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
    kept = []
    for row in rows:
        name = row[0].rsplit("/", 1)[-1] if row and row[0].startswith(info.name + "/") else None
        if name == "REQUESTED":
            continue
        if name == "INSTALLER":
            row = [row[0], record_hash(INSTALLER), str(len(INSTALLER))]
        kept.append(row)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    record.write_text(out.getvalue(), encoding="utf-8")
    return True


def main() -> None:
    folders = {Path(sysconfig.get_path(key)) for key in ("purelib", "platlib")}
    changed = [info.name for folder in sorted(folders) for info in sorted(folder.glob("*.dist-info")) if normalize(info)]
    print(f"mlenv: metadata of {len(changed)} packages made the daemonless builder's", file=sys.stderr)


if __name__ == "__main__":
    main()
