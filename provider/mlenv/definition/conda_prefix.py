"""An existing conda environment, read from its `conda-meta/` records and pip's `*.dist-info`
folders, without conda: every package pinned exactly (`channel::name==version=build`), in the same
canonical spelling a conda file gets, so the two sources compare and hash alike."""

from __future__ import annotations

import json
import os
import re
from email.parser import HeaderParser
from pathlib import Path

from mlenv.definition.conda_file import CondaSpec, _parse_spec, _version_part
from mlenv.diagnostics.redact import public_url
from mlenv.diagnostics.errors import SpecError

_SUBDIR = re.compile(r"/(noarch|[a-z]+-[a-z0-9_]+)/?$")  # .../conda-forge/linux-64
_ANACONDA = ("https://conda.anaconda.org/", "https://repo.anaconda.com/")  # where a channel URL is just its name


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
    url = public_url(url.strip())
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
