"""Conda environment definitions (conda's environment.yml format) into one small typed value, `CondaSpec`.

Three sources give the same value: an inline mapping (`parse_conda_mapping`), an environment.yml file
(`parse_conda_file`) and an environment already on disk, read without conda (`read_existing_environment`).
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

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import yaml
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rattler import MatchSpec

from .errors import SpecError, SpecWarning
from .redact import redact

FIELDS = ("name", "channels", "dependencies", "prefix", "variables")
SPEC_FIX = "write name, name=version or name>=x,<y (conda match spec); quote specs containing < or > in YAML"
_CREDENTIALS = re.compile(r"://[^/@\s]*:[^/@\s]*@")  # scheme://user:password@
_SUBDIR = re.compile(r"/(noarch|[a-z]+-[a-z0-9_]+)/?$")  # .../conda-forge/linux-64
_BUILD = re.compile(r"[A-Za-z0-9_.+*]+")  # py311h64a7726_0, py3.11_cuda11.8*, *_cp311
_ANACONDA = ("https://conda.anaconda.org/", "https://repo.anaconda.com/")  # where a channel URL is just its name


@dataclass(frozen=True)
class CondaSpec:
    channels: tuple[str, ...] = ()        # order kept: it is priority
    packages: tuple[str, ...] = ()        # canonical match specs, user order kept, excluding python and pip
    python_specs: tuple[str, ...] = ()    # every python entry's version part ("3.11", ">=3.8", "" when bare)
    pip_lines: tuple[str, ...] = ()       # the raw items of the `pip:` subsection (requirement-file lines)
    name: str | None = None
    warnings: tuple[SpecWarning, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # conda env vars (`variables:`), order kept


# --- a definition (mapping or file) -------------------------------------------------------------

def parse_conda_mapping(data: object, where: str = "conda") -> CondaSpec:
    """Validate an environment.yml-shaped mapping; `where` prefixes every error location."""
    if not isinstance(data, Mapping):
        raise SpecError(where, "must be a mapping with name, channels and dependencies",
                        "write channels: [conda-forge] and dependencies: [python=3.11, numpy]", data)
    for key in data:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            raise SpecError(f"{where}.{key}", "unknown field",
                            f"did you mean '{close[0]}'?" if close else f"known fields are {', '.join(FIELDS)}")
    warnings = []
    if data.get("prefix") is not None:
        warnings.append(SpecWarning(f"{where}.prefix", "is machine-specific and ignored",
                                    "remove prefix: the image decides where the environment lives", data["prefix"]))
    packages, python_specs, pip_lines = _dependencies(f"{where}.dependencies", data.get("dependencies"))
    return CondaSpec(channels=_channels(f"{where}.channels", data.get("channels")), packages=packages,
                     python_specs=python_specs, pip_lines=pip_lines, name=_name(f"{where}.name", data.get("name")),
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
        return path.read_text(encoding="utf-8-sig"), file
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise SpecError(f"{where} ({file})", f"cannot be read: {reason}", fix, str(path)) from None


def _load_yaml(text: str, where: str, file: str) -> object:
    """yaml.safe_load, with every failure (PyYAML also raises ValueError, RecursionError…) as a SpecError."""
    try:
        return yaml.safe_load(text)
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
        if _CREDENTIALS.search(item):
            raise SpecError(f"{where}[{index}]", "has credentials in plain text",
                            "remove user:password@ from the URL and put the credentials in the environment "
                            "(e.g. a .condarc or netrc outside the definition)", redact(item))
        channels.append(item.strip())
    return tuple(channels)


def _dependencies(where: str, value: object) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Split dependencies into conda packages, python's version parts and the pip subsection."""
    packages, python_specs, pip_lines, seen = [], [], None, {}
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
            continue  # the builder provides pip itself
        elif name in seen:
            raise SpecError(at, f"{name} is listed twice (also at dependencies[{seen[name]}])",
                            "keep one entry per package and combine the constraints, e.g. numpy>=1.26,<2", item)
        else:
            seen[name] = index
            packages.append(str(spec))
    return tuple(packages), tuple(python_specs), tuple(pip_lines or ())


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
    if _CREDENTIALS.search(text):
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


# --- an existing environment --------------------------------------------------------------------

def read_existing_environment(prefix_or_name: str, where: str = "conda_environment") -> CondaSpec:
    """Pin an environment on disk exactly (no conda needed): its conda-meta records and pip's installs."""
    prefix = _find_prefix(prefix_or_name, where)
    records = sorted((_read_record(path, where) for path in (prefix / "conda-meta").glob("*.json")),
                     key=lambda record: (record["name"], record["version"], record["build"]))
    channels, packages, python_specs, owned, python = {}, [], [], set(), None
    for record in records:
        owned |= record["dist_infos"]
        if record["name"] == "pip":
            continue  # the builder provides pip itself
        if record["channel"]:
            channels.setdefault(record["channel"], None)
        if record["name"] == "python":
            python_specs.append(_version_part(record["spec"]))
            python = ".".join(record["version"].split(".")[:2])
        else:
            packages.append(str(record["spec"]))
    return CondaSpec(channels=tuple(channels), packages=tuple(packages), python_specs=tuple(python_specs),
                     pip_lines=_pip_installed(prefix, owned, python), name=os.path.basename(os.path.abspath(prefix)) or None,
                     variables=_state_variables(prefix, where))


def _find_prefix(prefix_or_name: object, where: str) -> Path:
    """A prefix directory (holds conda-meta/) or an environment name found in the usual envs folders."""
    fix = "pass the environment's prefix directory (the folder holding conda-meta/) or its name"
    if not isinstance(prefix_or_name, str) or not prefix_or_name.strip() or not prefix_or_name.isprintable():
        raise SpecError(where, "must be a conda environment name or prefix directory", fix, prefix_or_name)
    value = prefix_or_name.strip()
    if "/" in value or os.sep in value or value.startswith((".", "~")):
        prefix = Path(os.path.expanduser(value))
        if not (prefix / "conda-meta").is_dir():
            raise SpecError(where, "is not a conda environment: it has no conda-meta/ folder", fix, value)
        return prefix
    searched = _envs_dirs()
    for envs in searched:
        if (envs / value / "conda-meta").is_dir():
            return envs / value
    raise SpecError(where, f"no conda environment with this name in {', '.join(map(str, searched))}",
                    f"{fix}; or set CONDA_ENVS_PATH to the folder that holds it", value)


def _envs_dirs() -> list[Path]:
    """Where conda keeps named environments, in conda's order of precedence."""
    dirs = [Path(entry) for entry in os.environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if entry]
    dirs += [Path(os.environ[var]) / "envs" for var in ("CONDA_PREFIX", "CONDA_ROOT") if os.environ.get(var)]
    home = Path(os.path.expanduser("~"))
    dirs += [home / ".conda" / "envs", *(home / root / "envs" for root in ("miniconda3", "anaconda3", "miniforge3"))]
    return list(dict.fromkeys(dirs))


def _read_record(path: Path, where: str) -> dict:
    """One conda-meta/*.json record: name, version, build, channel name, exact pin, dist-info folders it owns."""
    where = f"{where} ({path.name})"
    fix = "reinstall that package (conda install --force-reinstall NAME) or recreate the environment"
    data = _read_json(path, where, fix)
    fields = {key: data.get(key) if isinstance(data, dict) else None for key in ("name", "version", "build")}
    missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise SpecError(where, f"is not a conda package record: no {', '.join(missing)}", fix)
    channel = _channel_name(data.get("channel"))
    pin = f"{channel + '::' if channel else ''}{fields['name']}=={fields['version']}={fields['build']}"
    try:
        spec = _parse_spec(pin)
        if (spec.version, spec.build) != (f"=={fields['version']}", fields["build"]):
            raise ValueError(f"it reads back as {str(spec)!r}")
    except ValueError as err:
        raise SpecError(where, f"does not give a valid pin: {err}", fix, pin) from None
    return {**fields, "name": spec.name.as_package_name().normalized, "channel": channel, "spec": spec,
            "dist_infos": _dist_infos(data)}


def _read_json(path: Path, where: str, fix: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise SpecError(where, f"cannot be read: {reason}", fix) from None


def _channel_name(url: object) -> str | None:
    """`https://conda.anaconda.org/conda-forge/linux-64` -> `conda-forge`; other hosts keep their URL
    (without credentials or an anaconda.org /t/<token>/ part: those never leave the machine)."""
    if not isinstance(url, str) or not url.strip() or url.strip() in ("<unknown>", "@"):
        return None
    url = re.sub(r"/t/[^/]+(?=/)", "", _CREDENTIALS.sub("://", url.strip()))
    url = _SUBDIR.sub("", url.rstrip("/"))
    for base in _ANACONDA:
        if url.startswith(base):
            return url[len(base):]
    return url


def _dist_infos(record: dict) -> set[str]:
    """The `*.dist-info` folders a conda package installed (conda-forge's often say INSTALLER=pip)."""
    paths = [p for p in record.get("files") or () if isinstance(p, str)]
    paths_data = record.get("paths_data")
    if isinstance(paths_data, dict) and isinstance(paths_data.get("paths"), list):
        paths += [p.get("_path") for p in paths_data["paths"] if isinstance(p, dict) and isinstance(p.get("_path"), str)]
    return {path.split(".dist-info/")[0] + ".dist-info" for path in paths if ".dist-info/" in path}


def _pip_installed(prefix: Path, owned: set[str], python: str | None) -> tuple[str, ...]:
    """`name==version` for every package pip (not conda) put into the environment's site-packages;
    only the installed python's (lib/python3.10 left over after an upgrade to 3.11 is dead)."""
    found = [*prefix.glob(f"lib/python{python or '*'}/site-packages/*.dist-info"),
             *prefix.glob("Lib/site-packages/*.dist-info")]
    lines = {}
    for dist_info in found:
        relative = dist_info.relative_to(prefix).as_posix()
        if relative in owned or _installer(dist_info) == "conda":
            continue
        name, installed = _name_version(dist_info)
        lines[name.lower()] = f"{name}=={installed}"
    return tuple(lines[key] for key in sorted(lines))


def _installer(dist_info: Path) -> str:
    try:
        return (dist_info / "INSTALLER").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _name_version(dist_info: Path) -> tuple[str, str]:
    """Name and Version from METADATA; the folder name (`name-version.dist-info`) when that is unreadable."""
    try:
        headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8", errors="replace"))
        if headers.get("Name") and headers.get("Version"):
            return headers["Name"].strip(), headers["Version"].strip()
    except OSError:
        pass
    name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
    return name, version


def _state_variables(prefix: Path, where: str) -> tuple[tuple[str, str], ...]:
    """Env vars set with `conda env config vars set`, which conda keeps in conda-meta/state."""
    path = prefix / "conda-meta" / "state"
    if not path.is_file():
        return ()
    data = _read_json(path, f"{where} (state)", "fix or delete conda-meta/state (conda env config vars list)")
    values = data.get("env_vars") if isinstance(data, dict) else None
    return tuple((str(k), str(v)) for k, v in values.items()) if isinstance(values, dict) else ()
