"""What changed between two definitions, as a changelog a reviewer reads in a pull request.

deepdiff finds which parts of the canonical model changed (so spelling, order of packages and other
non-changes never show); each part then has a small describer that speaks the reviewer's language:
`numpy 1.26.4 → 2.0.1`, `+ scipy>=1.13`, `channel order changed`, `base image tag → digest`.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from deepdiff import DeepDiff
from packaging.requirements import InvalidRequirement, Requirement

from mlenv.identity.canonical import canonical_definition
from mlenv.identity.hashing import definition_hash
from mlenv.definition.model import EnvironmentSpec
from mlenv.definition.reference import parse_reference
from mlenv.diagnostics.errors import SpecError

_CONDA_NAME = re.compile(r"^(?:[^:]+::)?([A-Za-z0-9_.-]+)(.*)$")
_METADATA = ("name", "version", "description", "tags")


@dataclass(frozen=True)
class Change:
    section: str  # pip, conda, image, variables… or metadata
    kind: str  # "added", "removed", "changed"
    text: str


@dataclass(frozen=True)
class Report:
    old_hash: str
    new_hash: str
    changes: tuple[Change, ...]

    @property
    def rebuilds(self) -> bool:
        return self.old_hash != self.new_hash


def compare(old: EnvironmentSpec, new: EnvironmentSpec) -> Report:
    before, after = canonical_definition(old), canonical_definition(new)
    touched = DeepDiff(before, after, ignore_order=False).affected_root_keys
    changes = [c for key in sorted(touched, key=_section_order) for c in _describe(key, before.get(key), after.get(key), old, new)]
    changes += _metadata(old, new)
    return Report(definition_hash(old), definition_hash(new), tuple(changes))


def _section_order(key: str) -> tuple:
    order = ("curated", "image", "dockerfile", "build", "steps", "python", "conda", "pip", "pip_constraints", "pip_hashes", "pip_index", "wheels", "spark", "variables", "platform")
    return (order.index(key) if key in order else len(order), key)


def _describe(key, before, after, old, new) -> list[Change]:
    describer = {"image": _image, "pip": _requirements, "pip_constraints": _requirements, "conda": _conda, "variables": _variables,
                 "dockerfile": _dockerfile, "steps": _steps, "build": _build, "python": _python}.get(key, _generic)
    return describer(key, before, after, old, new)


def _image(key, before, after, old, new) -> list[Change]:
    if before and after and _pinned_to_digest(before, after):
        return [Change("image", "changed", f"base image tag → digest: {before} → {after}")]
    return [Change("image", "changed" if before and after else ("added" if after else "removed"), f"base image {before or '(none)'} → {after or '(none)'}")]


def _pinned_to_digest(before: str, after: str) -> bool:
    """The same repository, now pinned by digest: `host:5000/base/python:3.11` → `host:5000/base/python@sha256:…`
    (parsed, so a registry port is not mistaken for a tag)."""
    try:
        old_ref, new_ref = parse_reference(before), parse_reference(after)
    except SpecError:
        return False
    return old_ref.repository == new_ref.repository and not old_ref.digest and bool(new_ref.digest)


def _requirements(key, before, after, *_specs) -> list[Change]:
    return _named_changes(key, _by_name(before or [], _pip_name), _by_name(after or [], _pip_name))


def _pip_name(line: str) -> tuple[str, str]:
    requirement = Requirement(line)
    return requirement.name + (f"; {requirement.marker}" if requirement.marker else ""), line[len(requirement.name):]


def _conda(key, before, after, old, new) -> list[Change]:
    before, after = before or {"channels": [], "packages": []}, after or {"channels": [], "packages": []}
    changes = []
    # the files' own channels: a section that leaves the hash (no conda packages left) still lists them
    old_channels, new_channels = _channels_of(old, before), _channels_of(new, after)
    if old_channels != new_channels:
        if sorted(old_channels) == sorted(new_channels):
            changes.append(Change("conda", "changed", f"channel order changed: {', '.join(old_channels)} → {', '.join(new_channels)} (priority)"))
        else:
            changes += [Change("conda", "added", f"+ channel {c}") for c in new_channels if c not in old_channels]
            changes += [Change("conda", "removed", f"- channel {c}") for c in old_channels if c not in new_channels]
    return changes + _named_changes("conda", _by_name(before["packages"], _conda_name), _by_name(after["packages"], _conda_name))


def _channels_of(spec: EnvironmentSpec, section: dict) -> list[str]:
    return list(spec.conda.channels) if spec.conda else section["channels"]


def _conda_name(spec: str) -> tuple[str, str]:
    found = _CONDA_NAME.match(spec)
    return (found[1], found[2]) if found else (spec, "")


def _by_name(lines: list[str], split) -> dict[str, tuple[str, str]]:
    return {split(line)[0]: (line, split(line)[1]) for line in lines}


def _named_changes(section: str, before: dict, after: dict) -> list[Change]:
    changes = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            changes.append(Change(section, "added", f"+ {after[name][0]}"))
        elif name not in after:
            changes.append(Change(section, "removed", f"- {before[name][0]}"))
        elif before[name] != after[name]:
            changes.append(Change(section, "changed", f"{name} {_version_text(before[name][1])} → {_version_text(after[name][1])}"))
    return changes


def _version_text(spec: str) -> str:
    """`==1.26.4` reads as `1.26.4`; a range stays a range; no constraint reads as `(any)`."""
    spec = spec.strip()
    if re.fullmatch(r"={1,2}[^,;<>=!~*]+", spec):
        return spec.lstrip("=")
    return spec or "(any)"


def _variables(key, before, after, *_specs) -> list[Change]:
    before, after = before or {}, after or {}
    changes = [Change("variables", "added", f"+ {k}={after[k]}") for k in sorted(after.keys() - before.keys())]
    changes += [Change("variables", "removed", f"- {k}") for k in sorted(before.keys() - after.keys())]
    changes += [Change("variables", "changed", f"{k}: {before[k]} → {after[k]}") for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return changes


def _python(key, before, after, *_specs) -> list[Change]:
    before, after = before or {}, after or {}
    unset = {"pip": "(the newest)"}  # the venv's pip when python.pip is not set

    def shown(section: dict, field: str) -> str:
        value = section.get(field, unset.get(field, "(base image)"))
        return json.dumps(value) if isinstance(value, bool) else str(value)
    return [Change("python", "changed", f"Python {field.replace('_', ' ')}: {shown(before, field)} → {shown(after, field)}")
            for field in sorted(before.keys() | after.keys()) if before.get(field) != after.get(field)]


def _dockerfile(key, before, after, *_specs) -> list[Change]:
    diff = difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(), "Dockerfile (old)", "Dockerfile (new)", lineterm="", n=0)
    lines = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return [Change("dockerfile", "added" if line[0] == "+" else "removed", f"{line[0]} {line[1:]}") for line in lines]


def _steps(key, before, after, *_specs) -> list[Change]:
    matcher = difflib.SequenceMatcher(a=before or [], b=after or [])
    changes = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            changes += [Change("steps", "removed", f"- step {a0 + i + 1}: {s}") for i, s in enumerate((before or [])[a0:a1])]
        if op in ("replace", "insert"):
            changes += [Change("steps", "added", f"+ step {b0 + i + 1}: {s}") for i, s in enumerate((after or [])[b0:b1])]
    return changes


def _build(key, before, after, old, new) -> list[Change]:
    changes = []
    if (before or {}).get("dockerfile_path") != (after or {}).get("dockerfile_path"):
        changes.append(Change("build", "changed", f"Dockerfile path {(before or {}).get('dockerfile_path')} → {(after or {}).get('dockerfile_path')}"))
    files = _context_files(old, new)
    if files:
        changes += files
    elif (before or {}).get("digest") != (after or {}).get("digest"):
        changes.append(Change("build", "changed", f"build context content {_short((before or {}).get('digest'))} → {_short((after or {}).get('digest'))}"))
    return changes


def _context_files(old, new) -> list[Change]:
    """Which files of the build context changed, from the entries read when each was loaded."""
    if not (old.build and new.build and old.build.entries and new.build.entries):
        return []
    before = {e[0]: e[1:] for e in old.build.entries}
    after = {e[0]: e[1:] for e in new.build.entries}
    changes = [Change("build", "added", f"+ {p}") for p in sorted(after.keys() - before.keys())]
    changes += [Change("build", "removed", f"- {p}") for p in sorted(before.keys() - after.keys())]
    for path in sorted(before.keys() & after.keys()):
        if before[path] != after[path]:
            pins = _requirement_pins(path, old.build.path, new.build.path)
            changes += pins if pins else [Change("build", "changed", f"~ {path}")]
    return changes


def _requirement_pins(path: str, old_root: str, new_root: str) -> list[Change]:
    """A changed requirements file in the context, package by package (`~ requirements.txt: numpy 1.26.4 → 2.0.1`);
    [] for other files, or when nothing a reviewer would call a package changed (comments, options)."""
    if not (path.endswith(".txt") and "requirements" in path.rsplit("/", 1)[-1].lower()):
        return []
    sides = [_by_name(_requirement_lines(Path(root) / path), _pip_name) for root in (old_root, new_root)]
    return [replace(c, text=f"~ {path}: {c.text}") for c in _named_changes("build", *sides)]


def _requirement_lines(file: Path) -> list[str]:
    """The requirement lines of a requirements file as pip reads them, without options, comments or
    lines that are not requirements (those show as the file changing, not as packages)."""
    try:
        text = file.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return []
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            Requirement(line)
        except InvalidRequirement:
            continue
        lines.append(line)
    return lines


def _short(digest) -> str:
    return (digest or "(none)")[:19] + "…" if digest else "(none)"


def _generic(key, before, after, *_specs) -> list[Change]:
    kind = "added" if before is None else "removed" if after is None else "changed"
    return [Change(key, kind, f"{key}: {_compact(before)} → {_compact(after)}")]


def _compact(value) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _metadata(old: EnvironmentSpec, new: EnvironmentSpec) -> list[Change]:
    return [Change("metadata", "changed", f"{field}: {_compact(getattr(old, field) or None)} → {_compact(getattr(new, field) or None)} (metadata, no rebuild)")
            for field in _METADATA if getattr(old, field) != getattr(new, field)]


# --- formats -----------------------------------------------------------------------------------

def render(report: Report, fmt: str = "text", title: str = "environment") -> str:
    return {"text": _text, "markdown": _markdown, "json": _json}[fmt](report, title)


def _verdict(report: Report) -> str:
    if report.rebuilds:
        return f"rebuilds: definition {report.old_hash[:12]} → {report.new_hash[:12]}"
    return f"no rebuild: definition {report.new_hash[:12]} unchanged"


def _text(report: Report, title: str) -> str:
    lines = [f"{title}: {_verdict(report)}"]
    lines += [f"  {c.section}: {c.text}" for c in report.changes] or ["  no changes"]
    return "\n".join(lines) + "\n"


def _markdown(report: Report, title: str) -> str:
    verdict = "**rebuilds**" if report.rebuilds else "no rebuild"
    lines = [f"#### `{title}`: {verdict} (definition `{report.old_hash[:12]}` → `{report.new_hash[:12]}`)", ""]
    if not report.changes:
        lines.append("No changes.")
    for section in dict.fromkeys(c.section for c in report.changes):
        lines.append(f"**{section}**")
        lines += [f"- {_md_code(c.text)}" for c in report.changes if c.section == section]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _json(report: Report, title: str) -> str:
    return json.dumps({"title": title, "rebuilds": report.rebuilds, "old_hash": report.old_hash, "new_hash": report.new_hash,
                       "changes": [asdict(c) for c in report.changes]}, indent=2) + "\n"
