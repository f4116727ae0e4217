"""Registry authentication: explicit credentials or Docker's config, basic and bearer-token flows.

Credentials live only inside the httpx client of one call: never on the provider object, in a log
line, or in an error message. Docker's config (and the credential helper it names) is consulted
only when a registry asks for a login, as `docker push` would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator

import httpx

from mlenv.diagnostics.errors import BuildError, MlenvError

IDENTITY_TOKEN_USER = "<token>"  # what a credential helper answers for an OAuth2 refresh token


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str = ""  # where they came from, for messages (never the secret itself)

    def __repr__(self) -> str:  # keeps the password out of any accidental log line
        return f"Credentials(username={self.username!r}, password=***)"

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USER


def environment_credentials(prefix: str) -> Credentials | None:
    """`PREFIX_USERNAME` and `PREFIX_PASSWORD` from the environment: both, or neither."""
    username, password = os.environ.get(f"{prefix}_USERNAME"), os.environ.get(f"{prefix}_PASSWORD")
    if username and password:
        return Credentials(username, password, source=f"${prefix}_USERNAME")
    if username or password:
        have, missing = (f"{prefix}_USERNAME", f"{prefix}_PASSWORD") if username else (f"{prefix}_PASSWORD", f"{prefix}_USERNAME")
        raise MlenvError(missing, f"is not set, but {have} is", f"set {missing} too, or unset {have}")
    return None


def docker_config_path() -> Path:
    """Where Docker keeps its config: $DOCKER_CONFIG/config.json, else ~/.docker/config.json."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def docker_config_credentials(host: str) -> Credentials | None:
    """The login Docker would send to HOST: `credHelpers.HOST`, else `credsStore` (running
    `docker-credential-NAME get`), else `auths.HOST.auth` — read by the docker SDK, as Docker does."""
    from docker import auth as docker_auth
    from docker.errors import DockerException

    path = docker_config_path()
    raw = _read_config(path)
    if not raw:
        return None
    try:
        config = docker_auth.load_config(config_dict=raw)
    except (DockerException, ValueError, TypeError, AttributeError):  # an `auths` entry that is not base64 of user:password
        raise _config_error(path, "an `auths` entry cannot be decoded", f"run `docker login` again, or fix {path}") from None
    registry = docker_auth.resolve_index_name(host)
    helper = config.get_credential_store(registry)
    found = _ask_helper(config, helper, registry, path) if helper else config.resolve_authconfig(registry)
    from_helper = bool(found) and "ServerAddress" in found  # else the `auths` entry the SDK fell back to
    return _credentials_from(found, source=f"docker-credential-{helper}" if from_helper else str(path))


def _ask_helper(config, helper: str, registry: str, path: Path) -> dict | None:
    """`docker-credential-HELPER get` through the SDK (which falls back to `auths` when the helper
    does not know the host); a helper that is missing or fails is one clear error."""
    from docker.errors import DockerException

    program = f"docker-credential-{helper}"
    named_in = f"credHelpers.{registry}" if config.cred_helpers.get(registry) else "credsStore"
    instead = f"or remove {named_in} from {path} and give the login as MLENV_REGISTRY_USERNAME / _PASSWORD (MLENV_BASE_REGISTRY_… for a base image)"
    if not shutil.which(program):
        raise _config_error(path, f"{named_in} names the credential helper {program}, which is not on PATH",
                            f"install {program} or add its folder to PATH; {instead}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK also warns about a missing helper
            return config.resolve_authconfig(registry)
    except (DockerException, ValueError, KeyError, TypeError) as error:  # a failing helper, or one that answers no JSON
        raise _config_error(path, f"`{program} get` ({named_in}) failed for {registry}: {_helper_problem(error)}",
                            f"run `docker login {registry}` again, or run `{program} get` yourself to see why; {instead}") from None


def _read_config(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise _config_error(path, f"it cannot be read ({error.strerror})", f"make {path} readable, or point DOCKER_CONFIG elsewhere") from None
    except ValueError as error:
        place = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise _config_error(path, f"it is not valid JSON{place}", f"fix {path}, or run `docker login` again") from None
    if not isinstance(raw, dict):
        raise _config_error(path, "it is not a JSON object", f"fix {path}, or run `docker login` again")
    return raw


def _config_error(path: Path, problem: str, fix: str) -> BuildError:
    return BuildError("registry", f"Docker's config {path}: {problem}", fix, rule="registry.docker-config")


def _helper_problem(error: Exception) -> str:
    """The helper's exit code and first output line, unless that line looks like the JSON holding a secret."""
    import subprocess

    cause = error
    while cause.__cause__ is not None and not isinstance(cause, subprocess.CalledProcessError):
        cause = cause.__cause__
    if not isinstance(cause, subprocess.CalledProcessError):
        return f"its answer is not a login ({type(cause).__name__})"
    lines = (cause.output or b"").decode(errors="replace").strip().splitlines()
    said = lines[0][:200] if lines and "{" not in lines[0] and "Secret" not in lines[0] else ""
    return f"exit code {cause.returncode}" + (f": {said}" if said else "")


def _credentials_from(found: dict | None, source: str) -> Credentials | None:
    """The SDK's answer (auths entry: username/password; helper: Username/Password or IdentityToken)."""
    if not found:
        return None
    if found.get("IdentityToken"):
        return Credentials(IDENTITY_TOKEN_USER, found["IdentityToken"], source)
    username, password = found.get("Username") or found.get("username"), found.get("Password") or found.get("password")
    return Credentials(username, password, source) if username and password else None


_PARAM = re.compile(r'(\w+)="([^"]*)"')


class TokenServiceError(Exception):
    """The registry's token service (its Bearer realm) refused or failed, not the registry itself:
    the store reports it as that, naming the realm and what it answered."""

    def __init__(self, realm: str, status: int, retry_after: str | None = None):
        super().__init__(f"the token service {realm} answered HTTP {status}")
        self.realm, self.status, self.retry_after = realm, status, retry_after


class RegistryAuth(httpx.Auth):
    """Answers 401 challenges: Basic with the credentials, Bearer by fetching a token for the
    challenge's scope (with an identity token: the OAuth2 refresh-token grant); the last token is
    reused until a request needs a wider scope. Without explicit credentials, `lookup` is asked once,
    at the first challenge, so an anonymous registry never runs a credential helper.

    Shared by the threads of one store: the look-up runs under a lock (two first challenges ask
    Docker's config once); a token is one attribute, replaced whole, so a request reads either the
    old or the new one, and one with too narrow a scope is answered 401 and fetches its own."""

    def __init__(self, credentials: Credentials | None, lookup: Callable[[], Credentials | None] | None = None):
        self._credentials = credentials
        self._lookup = None if credentials else lookup
        self._token: str | None = None
        self._basic = False
        self._lookup_lock = threading.Lock()

    def describe(self) -> str:
        """Which login was sent, for a refusal message: its source, or that there was none."""
        if not self._credentials:
            return " without a login"
        return f" with the login from {self._credentials.source}" if self._credentials.source else ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._apply_known(request)
        response = yield request
        if response.status_code != 401:
            return
        self._look_up_once()
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic" and self._credentials and not self._credentials.is_identity_token:
            self._basic = True
            request.headers["Authorization"] = self._basic_header()
            yield request
        elif scheme.lower() == "bearer":
            params = dict(_PARAM.findall(params_text))
            token_response = yield self._token_request(params)
            self._token = _token_from(token_response)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _look_up_once(self) -> None:
        with self._lookup_lock:
            if self._lookup:
                lookup, self._lookup = self._lookup, None
                self._credentials = lookup()

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
        realm = params.get("realm", "")
        if self._credentials and self._credentials.is_identity_token:
            form = {**query, "grant_type": "refresh_token", "refresh_token": self._credentials.password, "client_id": "mlenv"}
            return httpx.Request("POST", realm, data=form)
        headers = {"Authorization": self._basic_header()} if self._credentials else {}
        return httpx.Request("GET", realm, params=query, headers=headers)


def _token_from(response: httpx.Response) -> str:
    realm = str(response.request.url.copy_with(query=None))
    if response.status_code != 200:
        raise TokenServiceError(realm, response.status_code, response.headers.get("retry-after"))
    response.read()
    try:
        body = response.json()
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise TokenServiceError(realm, 200)  # an answer without a token: as good as a refusal
    return token
