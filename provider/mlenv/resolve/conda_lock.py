"""Solve a definition's conda packages for the target image with py-rattler, into a lock.

Channels are searched in order with strict channel priority (conda's default), for `linux-64` plus
`noarch`, with the virtual packages of the target image (resolve/conda_target.py). The result is one
`CondaRecord` per package: channel, subdir, file, public URL, sha256, size — what the lock hash and
the outputs' `packages` list carry, and what `mlenv lock` writes for other tools.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from mlenv.definition.conda_file import CondaSpec, python_match_spec
from mlenv.diagnostics.errors import BuildError
from mlenv.diagnostics.redact import public_url
from mlenv.resolve.conda_channels import ChannelSettings, expand
from mlenv.resolve.conda_target import CondaTarget


@dataclass(frozen=True)
class CondaRecord:
    name: str
    version: str
    build: str
    channel: str     # public channel URL
    subdir: str
    file_name: str
    url: str         # public package URL (no token, no credentials)
    sha256: str
    size: int
    noarch: str = ""  # "python", "generic" or ""
    md5: str = ""     # conda's explicit files name a package by URL#md5

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}={self.build}"

    def identity(self) -> dict:
        """What the lock hash covers for this package."""
        return {"name": self.name, "version": self.version, "build": self.build, "channel": self.channel,
                "subdir": self.subdir, "file": self.file_name, "sha256": self.sha256}


@dataclass(frozen=True)
class CondaLock:
    records: tuple[CondaRecord, ...]
    virtual_packages: tuple[str, ...]  # "__glibc=2.36=0", in the lock so a target change is visible
    channels: tuple[str, ...]          # public URLs, priority order

    def python(self) -> CondaRecord | None:
        return next((r for r in self.records if r.name == "python"), None)

    def identity(self) -> dict:
        return {"records": [r.identity() for r in self.records], "virtual_packages": list(self.virtual_packages)}


def solve_specs(conda: CondaSpec, python_version: str | None = None) -> list[str]:
    """The match specs handed to the solver: python (the definition's pin), the packages, and pip
    (as pinned, `pip=24.2`) when the environment has a pip section or lists pip (so `pip install` works in the image)."""
    python = [python_match_spec(v) for v in conda.python_specs] or ([f"python={python_version}"] if python_version else ["python"])
    extra = [conda.pip_spec or "pip"] if conda.pip_lines or conda.wants_pip else []  # a pin is applied by the solver
    return [*python, *conda.packages, *extra]


def solve(conda: CondaSpec, target: CondaTarget, settings: ChannelSettings | None = None, *,
          python_version: str | None = None, cache_dir: str | None = None) -> tuple[CondaLock, list]:
    """The lock, and rattler's records (with the real, expanded URLs) for the download step."""
    settings = settings or ChannelSettings.from_environment()
    channels = settings.resolve(conda.channels)
    if not channels:
        raise BuildError("conda.channels", "no channel to solve from", "list channels, e.g. channels: [conda-forge]", rule="conda.channel")
    specs = solve_specs(conda, python_version)
    records = _run_solver(channels, specs, target, settings, cache_dir)
    locked = tuple(sorted((_record(r) for r in records), key=lambda r: r.name))
    vpackages = tuple(f"{n}={v}={b}" for n, v, b in target.virtual_packages())
    return CondaLock(locked, vpackages, tuple(public_url(c) for c in channels)), records


def _run_solver(channels, specs, target: CondaTarget, settings: ChannelSettings, cache_dir) -> list:
    import rattler

    sources = [rattler.Channel(expand(settings.mirror_for(url))) for url in channels]
    gateway = rattler.Gateway(cache_dir=cache_dir, show_progress=False)
    try:
        return run_async(rattler.solve(sources, specs, gateway=gateway, platforms=[target.subdir, "noarch"],
                                         virtual_packages=target.rattler_virtual_packages(),
                                         channel_priority=rattler.ChannelPriority.Strict))
    except Exception as error:
        if not is_rattler_error(error):
            raise
        raise _explained(error, channels, sources, target, gateway) from None


def is_rattler_error(error: Exception) -> bool:
    """One of rattler's own exceptions (a solver, gateway, install… failure), not a bug of ours."""
    import rattler.exceptions

    kinds = tuple(v for v in vars(rattler.exceptions).values() if isinstance(v, type) and issubclass(v, Exception))
    return isinstance(error, kinds)


def run_async(coroutine):
    """Run one of rattler's coroutines on a private event loop: `asyncio.run` would leave the calling
    thread without a current loop, which the Pulumi SDK in the same process still asks for."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _record(record) -> CondaRecord:
    noarch = record.noarch
    kind = "python" if noarch.python else "generic" if noarch.generic else ""
    sha = record.sha256.hex() if isinstance(record.sha256, (bytes, bytearray)) else str(record.sha256 or "")
    return CondaRecord(name=record.name.normalized, version=str(record.version), build=str(record.build),
                       channel=public_url(str(record.channel or "")).rstrip("/"), subdir=str(record.subdir),
                       file_name=record.file_name, url=public_url(str(record.url)), sha256=sha, size=int(record.size or 0), noarch=kind,
                       md5=record.md5.hex() if isinstance(record.md5, (bytes, bytearray)) else str(record.md5 or ""))


def _explained(error: Exception, channels, sources, target: CondaTarget, gateway) -> BuildError:
    """rattler's own message, without tokens, as one explanation with the rule that matches it."""
    text = public_url(str(error))
    shown = ", ".join(public_url(c) for c in channels)
    first = " ".join(text.split())[:300] or type(error).__name__
    if type(error).__name__ == "GatewayError":
        if re.search(r"\b(401|403)\b|[Uu]nauthori[sz]ed|[Ff]orbidden", text):
            return BuildError("conda.channels", f"a channel refused access ({first})",
                              "check the channel token or credentials (${VAR} in the channel URL, set in the environment)", rule="conda.channel", output=text)
        return BuildError("conda.channels", f"cannot read the channel repodata from {shown} ({first})",
                          "check the channel name or URL and the network; named channels go through the channel alias (MLENV_CONDA_CHANNEL_ALIAS)",
                          rule="conda.channel", output=text)
    glibc = re.search(r"(\S+) (\S+) would require\s*(?:└─\s*)?__glibc ([<>=!~]+[0-9.]+)", text)
    if glibc:
        package, version, needed = glibc.groups()
        return BuildError("conda.dependencies", f"{package} {version} needs __glibc {needed}, the base image has glibc {target.glibc}",
                          f"use a base image with a newer glibc, or pin an older build of {package}", rule="conda.glibc-too-old", output=text)
    missing = re.search(r"No candidates were found for ([A-Za-z0-9._-]+)(?: ([^.\n]+))?", text)
    if missing:
        name, wanted = missing.group(1), (missing.group(2) or "").strip(" *")
        versions = _versions(name, sources, gateway, target)
        if versions:
            return BuildError("conda.dependencies", f"no version of {name} in the channels matches {name} {wanted} (versions there: {', '.join(versions)})",
                              f"pin a version of {name} that exists", rule="conda.package-not-found", output=text)
        close = _close_names(name, sources, gateway, target)
        hint = f"close names there: {close}" if close else "check the package name and that the channel hosts it"
        return BuildError("conda.dependencies", f"{name} is not in the channels ({shown})", hint, rule="conda.package-not-found", output=text)
    return BuildError("conda.dependencies", f"the conda specs cannot be satisfied together: {first}",
                      "relax or change the conflicting pins named above", rule="conda.unsatisfiable", output=text)


def _versions(name: str, sources, gateway, target: CondaTarget) -> list[str]:
    """The versions of `name` the channels hold, oldest first (none: the name itself is unknown)."""
    try:
        found = run_async(gateway.query(sources, [target.subdir, "noarch"], [name], recursive=False))
    except Exception as error:  # noqa: BLE001 - only a hint
        if not is_rattler_error(error):
            raise
        return []
    from rattler import Version

    return sorted({str(r.version) for channel in found for r in channel}, key=Version)


def _close_names(name: str, sources, gateway, target: CondaTarget) -> str:
    """Package names in the channels that look like `name` (a typo, a PyPI name for a conda one)."""
    import difflib

    try:
        found = run_async(gateway.names(sources, [target.subdir, "noarch"]))
    except Exception as error:  # noqa: BLE001 - only a hint: no names is no hint
        if not is_rattler_error(error):
            raise
        return ""
    return ", ".join(difflib.get_close_matches(name, [n.normalized for n in found], n=3, cutoff=0.6))
