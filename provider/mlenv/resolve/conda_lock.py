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
from mlenv.resolve.conda_channels import ChannelSettings, expand, public_url
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
    when the environment has a pip section or lists pip (so `pip install` works in the image)."""
    python = [python_match_spec(v) for v in conda.python_specs] or ([f"python={python_version}"] if python_version else ["python"])
    extra = ["pip"] if conda.pip_lines or conda.wants_pip else []
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
        return asyncio.run(rattler.solve(sources, specs, gateway=gateway, platforms=[target.subdir, "noarch"],
                                         virtual_packages=target.rattler_virtual_packages(),
                                         channel_priority=rattler.ChannelPriority.Strict))
    except Exception as error:
        if not type(error).__module__.startswith("rattler"):
            raise
        raise _explained(error, channels, specs) from None


def _record(record) -> CondaRecord:
    noarch = record.noarch
    kind = "python" if noarch.python else "generic" if noarch.generic else ""
    sha = record.sha256.hex() if isinstance(record.sha256, (bytes, bytearray)) else str(record.sha256 or "")
    return CondaRecord(name=record.name.normalized, version=str(record.version), build=str(record.build),
                       channel=public_url(str(record.channel or "")).rstrip("/"), subdir=str(record.subdir),
                       file_name=record.file_name, url=public_url(str(record.url)), sha256=sha, size=int(record.size or 0), noarch=kind)


def _explained(error: Exception, channels, specs) -> BuildError:
    """rattler's own message, redacted, as one explanation with the rule that matches it."""
    text = public_url(str(error))
    shown = ", ".join(public_url(c) for c in channels)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    if re.search(r"401|403|[Uu]nauthori[sz]ed|[Ff]orbidden", text):
        return BuildError("conda.channels", f"a channel refused access ({first})", "check the channel token or credentials (MLENV_CONDA_* variables, ${VAR} in the channel URL)",
                          rule="conda.channel", output=text)
    if "FetchRepoData" in type(error).__name__ or re.search(r"error sending request|[Cc]onnection refused|dns error|404|not found", text) and "cannot be installed" not in text and "No candidates" not in text:
        return BuildError("conda.channels", f"cannot read the channel repodata from {shown} ({first})",
                          "check the channel name or URL and the network; named channels go through the channel alias (MLENV_CONDA_CHANNEL_ALIAS)",
                          rule="conda.channel", output=text)
    missing = re.search(r"No candidates were found for (\S+)", text)
    if missing:
        return BuildError("conda.dependencies", f"{missing.group(1)} is not in the channels ({shown})",
                          f"check the package name and the channels; close names: {_close_names(missing.group(1), specs)}",
                          rule="conda.package-not-found", output=text)
    return BuildError("conda.dependencies", "the conda specs cannot be satisfied together: " + " ".join(text.split())[:600],
                      "relax or change the conflicting pins named above (or the base image, if __glibc is named)", rule="conda.unsatisfiable", output=text)


def _close_names(name: str, specs) -> str:
    import difflib

    names = [re.split(r"[ =<>!~\[]", s, maxsplit=1)[0] for s in specs]
    return ", ".join(difflib.get_close_matches(name, names, n=3)) or "none among the specs"
