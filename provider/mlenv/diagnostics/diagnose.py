"""From a build log to ranked diagnoses: which catalogued failure it is, its cause, its fix, and the
log lines that prove it. The catalogue is data (catalogue.yml) and is the documentation
(docs/DIAGNOSTICS.md is generated from it). Works on any log: ours, pip, uv, conda, docker build."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from mlenv.diagnostics.redact import redact

FALLBACK = "generic.error"
_DEFAULTS = {"package": "a package", "command": "a command", "url": "", "status": "401/403", "have": "the base image's Python",
             "host": "(host not named in the log)"}


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    patterns: tuple[re.Pattern, ...]
    cause: str
    fix: str
    priority: int = 50

    @property
    def category(self) -> str:
        return self.id.split(".")[0]


@dataclass
class Diagnosis:
    rule: Rule
    cause: str
    fix: str
    evidence: list[tuple[int, str]] = field(default_factory=list)
    score: tuple[int, int] = (0, 0)


@lru_cache(maxsize=1)
def load_rules() -> tuple[Rule, ...]:
    data = yaml.safe_load(resources.files("mlenv.diagnostics").joinpath("catalogue.yml").read_text(encoding="utf-8"))
    return tuple(
        Rule(item["id"], item["title"], tuple(re.compile(p) for p in item["patterns"]), item["cause"], item["fix"], item.get("priority", 50))
        for item in data
    )


def diagnose(text: str, limit: int = 3, context: int = 2, secrets=()) -> list[Diagnosis]:
    """Ranked diagnoses (most specific, then latest in the log, first). The fallback appears only
    when nothing else matched."""
    lines = redact(text, secrets).splitlines()
    found = [d for d in (_apply(rule, lines, context) for rule in load_rules()) if d]
    specific = [d for d in found if d.rule.id != FALLBACK]
    ranked = sorted(specific or found, key=lambda d: d.score, reverse=True)
    return ranked[:limit] if ranked else [_last_lines(lines)]


def _apply(rule: Rule, lines: list[str], context: int) -> Diagnosis | None:
    hits: list[int] = []
    fields: dict[str, str] = {}
    for number, line in enumerate(lines):
        for pattern in rule.patterns:
            match = pattern.search(line)
            if match:
                hits.append(number)
                for key, value in match.groupdict().items():
                    if value and not fields.get(key):
                        fields[key] = value.strip()
                break
    if not hits:
        return None
    values = _Fields(_enrich(fields))
    evidence = _with_context(lines, hits[-4:], context)
    return Diagnosis(rule, rule.cause.format_map(values), rule.fix.format_map(values), evidence, (rule.priority, hits[-1]))


def _last_lines(lines: list[str]) -> Diagnosis:
    rule = next(r for r in load_rules() if r.id == FALLBACK)
    tail = [(n + 1, t) for n, t in enumerate(lines) if t.strip()][-8:]
    return Diagnosis(rule, rule.cause, rule.fix, tail)


def _with_context(lines: list[str], hits: list[int], context: int) -> list[tuple[int, str]]:
    keep = sorted({n for hit in hits for n in range(max(0, hit - context), min(len(lines), hit + context + 1))})
    return [(n + 1, lines[n]) for n in keep if lines[n].strip()]


def _enrich(fields: dict[str, str]) -> dict[str, str]:
    """Optional phrases derived from captured fields (so templates read well when a field is absent)."""

    enriched = dict(fields)
    versions = [v.strip() for v in fields.get("versions", "").replace("none", "").split(",") if v.strip()]
    enriched["versions_note"] = f" (versions there: {', '.join(versions)})" if versions else ""
    requested = re.sub(r"^[=<>!~]+", "", fields.get("spec", ""))
    closest = closest_version(requested, versions) if versions else None
    enriched["closest_note"] = f" (closest to the requested one: {closest})" if closest else ""
    enriched["operator_note"] = f" (operator {fields['operator']!r} is not PEP 440)" if fields.get("operator") else ""
    enriched["spec_note"] = f" ({fields['spec']!r})" if fields.get("spec") else ""
    return enriched


class _Fields(dict):
    """Missing fields read as a default phrase, unless an alternate spelling (`command2`) was captured."""

    def __missing__(self, key: str) -> str:
        base = key.rstrip("0123456789")
        if any(k.rstrip("0123456789") == base and self[k] for k in list(self)):
            return ""
        return _DEFAULTS.get(key, "")


def explain(output: str, where: str, secrets=(), *, kind: type | None = None) -> "BuildError":
    """A tool's failure output as one BuildError (or the stage's subclass, `kind`) carrying the top diagnosis."""
    from mlenv.diagnostics.errors import BuildError

    top = diagnose(output, secrets=secrets)[0]
    return (kind or BuildError)(where, top.cause, top.fix, rule=top.rule.id, evidence=top.evidence, output=redact(output, secrets))


def catalogue_markdown() -> str:
    """docs/DIAGNOSTICS.md: the catalogue, by category."""
    out = ["# Build diagnostics", "",
           "Every failed build is reported as a diagnosis: the rule below that matched the log, its cause, its fix,",
           "and the log lines that prove it; the full log is saved and its path printed. `mlenv diagnose LOG` does",
           "the same for any build log (ours, pip, uv, conda, `docker build`). Rules live in",
           "`provider/mlenv/diagnostics/catalogue.yml`; this page is generated from it (`mlenv diagnose --catalogue`).", ""]
    category = None
    for rule in load_rules():
        if rule.category != category:
            category = rule.category
            out += [f"## {category}", ""]
        out += [f'<a id="{rule.id.replace(".", "-")}"></a>', f"### {rule.id}: {rule.title}", "",
                f"- **Cause:** {rule.cause}", f"- **Fix:** {rule.fix}", "- **Matches log lines like:**"]
        out += [f"  - `{p.pattern}`" for p in rule.patterns]
        out.append("")
    return "\n".join(out)


def closest_version(requested: str, versions: list[str]) -> str | None:
    """The newest version not above the requested one, else the oldest above it (for a fix hint)."""
    from packaging.version import InvalidVersion, Version

    try:
        wanted = Version(requested)
    except InvalidVersion:
        return versions[-1] if versions else None
    parsed = sorted(Version(v) for v in versions)
    below = [v for v in parsed if v <= wanted]
    return str(below[-1]) if below else (str(parsed[0]) if parsed else None)
