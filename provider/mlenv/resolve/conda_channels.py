"""Where conda packages come from: a definition's channels (names or URLs) turned into URLs.

Named channels go through a channel alias, as conda does (`MLENV_CONDA_CHANNEL_ALIAS`, else a
`.condarc`'s `channel_alias`, `custom_channels` and `mirrored_channels`, else anaconda.org). These are
machine settings like a pip mirror: they stay out of the definition hash; the lock records the URLs
really used. `${VAR}` placeholders (a token in `/t/${TOKEN}/`, a `user:${PASSWORD}@`) are expanded only
when a request is made, and every URL shown, logged or locked is the public one, without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from mlenv.diagnostics.redact import TOKEN

DEFAULT_ALIAS = "https://conda.anaconda.org"
DEFAULT_DEFAULTS = "https://repo.anaconda.com/pkgs/main"


@dataclass(frozen=True)
class ChannelSettings:
    alias: str = DEFAULT_ALIAS
    defaults: tuple[str, ...] = (DEFAULT_DEFAULTS,)
    custom: dict[str, str] = field(default_factory=dict)       # channel name -> base URL it lives under
    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # channel URL -> mirror URLs

    @classmethod
    def from_environment(cls) -> "ChannelSettings":
        """MLENV_CONDA_* variables first, then the .condarc conda itself would read."""
        condarc = _read_condarc()
        alias = os.environ.get("MLENV_CONDA_CHANNEL_ALIAS") or condarc.get("channel_alias") or DEFAULT_ALIAS
        defaults = os.environ.get("MLENV_CONDA_DEFAULTS_URL", "").split() or condarc.get("default_channels") or [DEFAULT_DEFAULTS]
        return cls(
            alias=str(alias).rstrip("/"),
            defaults=tuple(str(url).rstrip("/") for url in defaults),
            custom={str(k): str(v).rstrip("/") for k, v in (condarc.get("custom_channels") or {}).items()},
            mirrors={str(k).rstrip("/"): tuple(str(m).rstrip("/") for m in v) for k, v in (condarc.get("mirrored_channels") or {}).items()},
        )

    def urls(self, channel: str) -> tuple[str, ...]:
        """The base URL(s) of one channel as written in a definition (`defaults` means several)."""
        if channel == "defaults":
            return self.defaults
        if "://" in channel:
            return (channel.rstrip("/"),)
        if channel in self.custom:
            return (f"{self.custom[channel]}/{channel}",)
        return (f"{self.alias}/{channel}",)

    def resolve(self, channels: tuple[str, ...]) -> tuple[str, ...]:
        """Every channel's URLs, in priority order, duplicates dropped; `nodefaults` selects nothing."""
        found = [url for channel in channels if channel != "nodefaults" for url in self.urls(channel)]
        return tuple(dict.fromkeys(found))

    def mirror_for(self, url: str) -> str:
        """The first mirror configured for a channel URL (air-gapped sites), else the URL itself."""
        for origin, mirrors in self.mirrors.items():
            if mirrors and url.startswith(origin):
                return mirrors[0] + url[len(origin):]
        return url


def expand(url: str) -> str:
    """`${VAR}` in a channel URL filled from the environment, at request time only."""
    return os.path.expandvars(url)


def secrets_of(url: str) -> list[str]:
    """The secret parts of an expanded URL (token, password), for redaction of logs."""
    found = [match.group(0)[3:] for match in TOKEN.finditer(url)]
    password = urlsplit(url).password
    return found + ([password] if password else [])


def channel_secrets(conda) -> list[str]:
    """The tokens and passwords a definition's channels expand to, for the build log to hide."""
    return [secret for channel in (conda.channels if conda else ()) for secret in secrets_of(expand(channel))]


def _read_condarc() -> dict:
    """The first readable .condarc among the places conda looks (CONDARC, ~/.condarc, ~/.config/conda)."""
    candidates = [os.environ.get("CONDARC"), Path.home() / ".condarc", Path.home() / ".config" / "conda" / "condarc"]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}
