"""Registry authentication: explicit credentials or Docker's config, basic and bearer-token flows.

Credentials live only inside the httpx client of one call: never on the provider object, in a log
line, or in an error message.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Generator

import httpx


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # keeps the password out of any accidental log line
        return f"Credentials(username={self.username!r}, password=***)"


def docker_config_credentials(host: str) -> Credentials | None:
    """Look the host up in ~/.docker/config.json (`auths.HOST.auth`), as `docker login` wrote it."""
    config_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    try:
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"http://{host}"):
        encoded = (auths.get(key) or {}).get("auth")
        if encoded:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
            return Credentials(username, password)
    return None


_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryAuth(httpx.Auth):
    """Answers 401 challenges: Basic with the credentials, Bearer by fetching a token for the
    challenge's scope; the last token is reused until a request needs a wider scope."""

    def __init__(self, credentials: Credentials | None):
        self._credentials = credentials
        self._token: str | None = None
        self._basic = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._apply_known(request)
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic" and self._credentials:
            self._basic = True
            request.headers["Authorization"] = self._basic_header()
            yield request
        elif scheme.lower() == "bearer":
            params = dict(_PARAM.findall(params_text))
            token_response = yield self._token_request(params)
            token = _token_from(token_response)
            if token:
                self._token = token
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

    def _apply_known(self, request: httpx.Request) -> None:
        if self._basic and self._credentials:
            request.headers["Authorization"] = self._basic_header()
        elif self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"

    def _basic_header(self) -> str:
        raw = f"{self._credentials.username}:{self._credentials.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _token_request(self, params: dict[str, str]) -> httpx.Request:
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        headers = {"Authorization": self._basic_header()} if self._credentials else {}
        return httpx.Request("GET", params.get("realm", ""), params=query, headers=headers)


def _token_from(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    response.read()
    body = response.json()
    return body.get("token") or body.get("access_token")
