"""Conda environment definitions (conda's environment.yml format) into one small typed value, `CondaSpec`.

Three sources give the same value: an inline mapping (`parse_conda_mapping`), an environment.yml file
(`parse_conda_file`) and an environment already on disk, read without conda (`mlenv.condameta`).
Match specs are parsed and written back in canonical form by py-rattler, the conda ecosystem's own
parser, so `numpy=1.26` and `numpy 1.26.*` become one string and a typo fails here, not in the solver.

Every mistake is one `SpecError`; notes that do not stop a build are `SpecWarning`s in `.warnings`.
Their `where` always has one shape: the caller's name for the source, then the file in parentheses
when one was read (with the line when the problem is the file as a whole), then the path inside:

    conda.dependencies[3]                                    an inline mapping
    conda_file (environment.yml).dependencies[3].pip[0]     a field in a file
    conda_file (environment.yml:4)                          the file itself (YAML syntax, not a mapping)
    conda_environment (numpy-1.26.4-py311h64a7726_0.json)   a record of an existing environment
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from typing import TYPE_CHECKING

from mlenv.definition import confine
from mlenv.definition.bounds import safe_load

if TYPE_CHECKING:
    from rattler import MatchSpec

from mlenv.definition.requirement_syntax import PLACEHOLDERS
from mlenv.diagnostics.errors import SpecError, SpecWarning, unknown_field
from mlenv.diagnostics.redact import login_of, redact

FIELDS = ("name", "channels", "dependencies", "prefix", "variables")
SPEC_FIX = "write name, name=version or name>=x,<y (conda match spec); quote specs containing < or > in YAML"
_BUILD = re.compile(r"[A-Za-z0-9_.+*]+")  # py311h64a7726_0, py3.11_cuda11.8*, *_cp311


@dataclass(frozen=True)
class CondaSpec:
    channels: tuple[str, ...] = ()        # order kept: it is priority
    packages: tuple[str, ...] = ()        # canonical match specs, user order kept, excluding python and pip
    python_specs: tuple[str, ...] = ()    # every python entry's version part ("3.11", ">=3.8", "" when bare)
    pip_lines: tuple[str, ...] = ()       # the raw items of the `pip:` subsection (requirement-file lines)
    name: str | None = None
    warnings: tuple[SpecWarning, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # conda env vars (`variables:`), order kept
    wants_pip: bool = False               # `pip` is listed: a conda-built environment gets conda's pip
    pip_spec: str | None = None           # `pip=20.2.4`: conda's pip pinned (canonical match spec); bare pip: None


# --- a definition (mapping or file) -------------------------------------------------------------

def parse_conda_mapping(data: object, where: str = "conda") -> CondaSpec:
    """Validate an environment.yml-shaped mapping; `where` prefixes every error location."""
    if not isinstance(data, Mapping):
        raise SpecError(where, "must be a mapping with name, channels and dependencies",
                        "write channels: [conda-forge] and dependencies: [python=3.11, numpy]", data)
    for key in data:
        if key not in FIELDS:
            raise unknown_field(f"{where}.{key}", key, FIELDS)
    warnings = []
    if data.get("prefix") is not None:
        warnings.append(SpecWarning(f"{where}.prefix", "is machine-specific and ignored",
                                    "remove prefix: the image decides where the environment lives", data["prefix"]))
    packages, python_specs, pip_lines, pip_spec = _dependencies(f"{where}.dependencies", data.get("dependencies"))
    return CondaSpec(channels=_channels(f"{where}.channels", data.get("channels")), packages=packages,
                     python_specs=python_specs, pip_lines=pip_lines, name=_name(f"{where}.name", data.get("name")),
                     wants_pip=_lists_pip(data.get("dependencies")), pip_spec=pip_spec,
                     warnings=tuple(warnings), variables=_variables(f"{where}.variables", data.get("variables")))


def parse_conda_file(path: Path | str, where: str = "conda_file") -> CondaSpec:
    """Read an environment.yml; errors name the file (and the line when the YAML itself is wrong)."""
    fix = "write channels: [conda-forge] and dependencies: [python=3.11, numpy]"
    text, file = _read_text(path, where)
    data = _load_yaml(text, where, file)
    if data is None:
        raise SpecError(f"{where} ({file})", "is empty", fix)
    if not isinstance(data, dict):
        raise SpecError(f"{where} ({file}:{_document_line(text)})",
                        f"must hold a mapping with name, channels and dependencies, not a {type(data).__name__}", fix)
    return parse_conda_mapping(data, f"{where} ({file})")


def _read_text(path: object, where: str) -> tuple[str, str]:
    """The file's text and the name errors call it by."""
    fix = "pass the path of an existing environment.yml"
    try:
        path = Path(path)
    except TypeError:
        raise SpecError(where, "must be the path of a conda environment file", fix, path) from None
    file = path.name or str(path)
    try:
        return confine.read_text(path, f"{where} ({file})", str(path)), file
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise SpecError(f"{where} ({file})", f"cannot be read: {reason}", fix, str(path)) from None


def _load_yaml(text: str, where: str, file: str) -> object:
    """yaml.safe_load, with every failure (PyYAML also raises ValueError, RecursionError…) as a SpecError."""
    try:
        return safe_load(text)
    except Exception as err:  # noqa: BLE001 - any failure to load means the file is not usable YAML
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or (str(err).splitlines() or [type(err).__name__])[0]
        context, started = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context and started and mark and started.line != mark.line:
            problem += f" ({context} started at line {started.line + 1})"
        raise SpecError(f"{where} ({file}{line})", f"not valid YAML: {problem}", "fix the YAML syntax") from None


def _document_line(text: str) -> int:
    """The line where the YAML document's content starts (after comments), for 'not a mapping' errors."""
    node = yaml.compose(text)
    return node.start_mark.line + 1 if node is not None else 1


def _name(where: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(where, "must be a non-empty string", "write name: my-env (quoted if it looks like a number)", value)
    return value.strip()


def _channels(where: str, value: object) -> tuple[str, ...]:
    """Channels in priority order; URLs may not carry a password (it would end up in logs and images)."""
    channels = []
    for index, item in enumerate(_list(where, value, "channels: [conda-forge, nodefaults]")):
        if not isinstance(item, str) or not item.strip() or len(item.split()) > 1:
            raise SpecError(f"{where}[{index}]", "must be a channel name or URL without spaces",
                            "write a channel such as conda-forge or https://host/channel", item)
        login = login_of(item)
        if login and login[1] is not None and not PLACEHOLDERS.fullmatch(login[1]):  # user:${VAR}@ is expanded at build time
            raise SpecError(f"{where}[{index}]", "has credentials in plain text",
                            "write the password as a placeholder filled from the environment at build time "
                            "(https://user:${CHANNEL_PASSWORD}@host/channel), or a token as /t/${TOKEN}/", redact(item))
        channels.append(item.strip())
    return tuple(channels)


def _dependencies(where: str, value: object) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str | None]:
    """Split dependencies into conda packages, python's version parts, the pip subsection and the
    pinned pip (None when pip is bare or absent: the builder's pip is then as good as any)."""
    packages, python_specs, pip_lines, seen, pip_spec = [], [], None, {}, None
    for index, item in enumerate(_list(where, value, "dependencies: [python=3.11, numpy, {pip: [requests]}]")):
        at = f"{where}[{index}]"
        if isinstance(item, Mapping):
            if pip_lines is not None:
                raise SpecError(at, "is a second pip subsection", "merge both into one - pip: [...] entry")
            pip_lines = _pip_section(at, item)
            continue
        if not isinstance(item, str):
            raise SpecError(at, "must be a match spec string or a pip: [...] subsection", SPEC_FIX, item)
        spec = _match_spec(at, item)
        name = spec.name.as_package_name().normalized
        if name == "python":
            python_specs.append(_version_part(spec))
        elif name == "pip":
            pip_spec = str(spec) if spec.version or spec.build else pip_spec  # bare: the builder provides pip itself
        elif name in seen:
            raise SpecError(at, f"{name} is listed twice (also at dependencies[{seen[name]}])",
                            "keep one entry per package and combine the constraints, e.g. numpy>=1.26,<2", item)
        else:
            seen[name] = index
            packages.append(str(spec))
    return tuple(packages), tuple(python_specs), tuple(pip_lines or ()), pip_spec


def _lists_pip(dependencies: object) -> bool:
    """Whether a (validated) dependency list names conda's pip package."""
    return any(isinstance(item, str) and re.split(r"[\s=<>!~\[]", item.strip(), maxsplit=1)[0].lower() == "pip"
               for item in dependencies or ())


def _pip_section(where: str, item: Mapping) -> tuple[str, ...]:
    """The `- pip: [...]` entry: kept as raw requirement-file lines, parsed by the pip side."""
    for key in item:
        if key != "pip":
            raise SpecError(f"{where}.{key}", "unknown field", "a mapping in dependencies holds only pip: [...]")
    if "pip" not in item:
        raise SpecError(where, "is an empty mapping", "write - pip: [requests==2.32.3] or remove the entry", dict(item))
    lines = _list(f"{where}.pip", item["pip"], "pip: [requests==2.32.3, -r requirements.txt]")
    for index, line in enumerate(lines):
        if not isinstance(line, str):
            raise SpecError(f"{where}.pip[{index}]", "must be a string (a requirements-file line)", "quote the value", line)
    return tuple(lines)


def _variables(where: str, value: object) -> tuple[tuple[str, str], ...]:
    """conda's `variables:` (env vars set on activation); names are checked with the others by the spec."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError(where, "must be a mapping of NAME: value", 'write variables: {OMP_NUM_THREADS: "1"}', value)
    pairs = []
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise SpecError(where, "names must be non-empty strings", "write NAME: value", key)
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise SpecError(f"{where}.{key}", "values must be strings or numbers", "quote the value", item)
        pairs.append((key, str(item)))
    return tuple(pairs)


def _list(where: str, value: object, example: str) -> list | tuple:
    """A YAML list; a key written without a value (None) means an empty one."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise SpecError(where, "must be a list", f"write {example}", value)
    return value


# --- match specs --------------------------------------------------------------------------------

def _match_spec(where: str, text: str) -> MatchSpec:
    """Parse one match spec with rattler; anything it cannot read back unchanged is rejected."""
    if (login := login_of(text)) and login[1] is not None:
        raise SpecError(where, "has credentials in plain text", "name the channel in channels: and put the "
                        "credentials in the environment (e.g. a .condarc or netrc outside the definition)", redact(text))
    try:
        return _parse_spec(text)
    except ValueError as err:
        raise SpecError(where, f"not a conda match spec: {err}", SPEC_FIX, text) from None


def _parse_spec(text: str) -> MatchSpec:
    """MatchSpec, or ValueError with the reason; the canonical form must parse back to itself."""
    text = text.strip()
    if not text.isascii() or not text.isprintable():
        raise ValueError("it has characters a match spec cannot have")
    try:
        from rattler import MatchSpec  # imported when a conda spec is met: it costs 20 ms otherwise

        spec = MatchSpec(text)  # lenient: strict mode rejects conda's own name=version=build form
        canonical = str(spec)
        if str(MatchSpec(canonical)) != canonical:
            raise ValueError(f"it reads back as {canonical!r}")
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - rattler raises its own exception types, not ValueError
        raise ValueError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    if spec.build is not None and not _BUILD.fullmatch(spec.build):
        raise ValueError(f"the build string {spec.build!r} may only have letters, digits, _ . + and *")
    return spec


def _version_part(spec: MatchSpec) -> str:
    """python's version constraint in conda's short form: `python=3.11` (i.e. 3.11.*) gives "3.11"."""
    version = spec.version or ""
    plain = re.fullmatch(r"([0-9A-Za-z_.!+]+)\.\*", version)
    return plain.group(1) if plain else version


def exact_python(version: str) -> str | None:
    """The Python a python entry's version part pins exactly ("3.11", "==3.11.7" → "3.11.7"), else
    None (">=3.8", "3", "": they do not pick one minor version)."""
    text = version.lstrip("=").removesuffix(".*")
    parts = text.split(".")
    return text if len(parts) >= 2 and all(p.isdigit() for p in parts) else None


def python_match_spec(version: str) -> str:
    """A conda python entry back from its version part: "3.11" → python=3.11, "==3.11.7" → python==3.11.7."""
    return "python" + ("" if not version else (version if version[0] in "<>=!~" else "=" + version))
