"""bench/ml.py's figures as one markdown report (printed) and as JSON (bench/results/, for comparing runs)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bench.ml_limits import floors
from bench.ml_meter import Step

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figures:
    small: bool
    packages: int
    wheel_bytes: int
    installed_bytes: int
    steps: dict[str, dict[str, Step]]  # side → scenario → Step
    limits: dict[str, float | None]
    cold_digests: list[str]
    wire_counted: bool = True  # False: no iptables, the "uploaded" figures are 0


def _cells(step: Step) -> list[str]:
    return [f"{step.wall:.1f}", f"{step.cpu:.1f}", f"{step.uploaded / 1e6:.1f}", f"{step.stored / 1e6:.1f}", f"{step.peak_rss / 1e6:.0f}"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def steps_table(figures: Figures) -> list[str]:
    sides = list(figures.steps)
    header = ["step"] + [f"{side} {what}" for side in sides for what in ("wall s", "CPU s", "uploaded MB", "stored MB", "peak RSS MB")]
    lines = [_row(header), _row(["---"] * len(header))]
    for scenario in next(iter(figures.steps.values())):
        lines.append(_row([scenario] + [cell for side in sides for cell in _cells(figures.steps[side][scenario])]))
    return lines


def limits_table(figures: Figures) -> list[str]:
    lines = [_row(["machine limit", "measured"]), _row(["---", "---"])]
    for name, rate in figures.limits.items():
        unit = "" if "/s" in name else " MiB/s"
        lines.append(_row([name, "not installed" if rate is None else f"{rate:.0f}{unit}"]))
    return lines


def distance_table(figures: Figures) -> list[str]:
    """Per mlenv step: the seconds each limit alone needs for its work, and how many times that the step took.
    The upload floor is for the bytes it sent; its compression and disk floors for the new blobs it stored,
    unpacked at the cold build's compression ratio (a layer from the cache is not compressed again)."""
    mlenv = figures.steps["mlenv"]
    ratio = figures.installed_bytes / max(1, mlenv["cold"].stored)
    names = list(figures.limits)
    lines = [_row(["mlenv step", "wall s", *(f"floor: {name}" for name in names)]), _row(["---"] * (len(names) + 2))]
    for scenario, step in mlenv.items():
        floor = floors(uploaded=step.uploaded, unpacked=int(step.stored * ratio), limits=figures.limits)
        cells = ["—" if not seconds or seconds < 0.05 else f"{seconds:.1f} s ({step.wall / seconds:.1f}×)" for seconds in floor.values()]
        lines.append(_row([scenario, f"{step.wall:.1f}", *cells]))
    return lines


def _docker_layers(figures: Figures) -> list[str]:
    """What `docker push` said of each layer, per step (a re-upload vs a cross-repository mount)."""
    said = {scenario: step.extra["layers"] for scenario, step in figures.steps.get("docker", {}).items() if "layers" in step.extra}
    if not said:
        return []
    return ["docker push, layers per step: " + "; ".join(
        f"{scenario}: " + ", ".join(f"{count} {outcome}" for outcome, count in layers.items()) for scenario, layers in said.items()), ""]


def _digests(figures: Figures) -> str:
    if len(figures.cold_digests) < 2:
        return "One cold mlenv build (--once, or --only docker): digests across caches not compared"
    same = len(set(figures.cold_digests)) == 1
    return f"Two cold mlenv builds from separate empty caches: digests {'identical' if same else 'DIFFER'} ({', '.join(figures.cold_digests)})"


def markdown(figures: Figures) -> str:
    kind = "--small (numpy + six)" if figures.small else "torch 2.5.1 + CUDA 12 wheels, triton, numpy, pandas, scikit-learn"
    distance = ["Distance of each mlenv step to the limits (the limit's floor for that step's work, and wall ÷ floor):\n",
                *distance_table(figures), ""] if "mlenv" in figures.steps else []
    return "\n".join([
        f"\n## bench-ml: {kind}",
        f"{figures.packages} packages, {figures.wheel_bytes / 1e9:.2f} GB of wheels, {figures.installed_bytes / 1e9:.2f} GB installed; "
        "CPython 3.11 on Debian bookworm; one-pin change: six 1.16.0 → 1.17.0. uploaded = bytes sent to the registry's port"
        f"{'' if figures.wire_counted else ' (NOT COUNTED: no iptables)'}; stored = the registry storage's growth (a blob is stored once "
        "whichever repositories hold it); docker CPU and RSS include the engine's (dockerd, containerd, build containers).\n",
        *steps_table(figures), "", *_docker_layers(figures),
        *limits_table(figures), "",
        *distance,
        _digests(figures),
    ])


def save(figures: Figures, folder: Path, when: datetime) -> Path:
    """The figures as JSON in folder, named by the time and the small/full kind."""
    folder.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    target = folder / f"bench-ml-{'small-' if figures.small else ''}{when:%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps({"when": when.isoformat(), "commit": commit, **asdict(figures)}, indent=2) + "\n")
    return target
