"""Docker's config.json as Docker reads it: auths, credsStore, credHelpers, identity tokens, $DOCKER_CONFIG;
the login environment variables; and the refresh-token grant an identity token needs."""

from __future__ import annotations

import base64

import httpx
import pytest

from mlenv.diagnostics.errors import BuildError, MlenvError
from mlenv.oci.auth import Credentials, RegistryAuth, docker_config_credentials, environment_credentials
from tests.credential_helper import install_helper, write_docker_config

HOST = "registry.example:5000"


@pytest.fixture
def docker_home(tmp_path, monkeypatch):
    """An empty HOME, no DOCKER_CONFIG, and a helper folder first on PATH."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    return tmp_path


def _auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def test_no_config_means_no_login(docker_home):
    assert docker_config_credentials(HOST) is None


def test_auths_entry_written_by_docker_login_with_a_url_key(docker_home):
    write_docker_config(docker_home / "home" / ".docker", {"auths": {f"https://{HOST}/v1/": {"auth": _auth("amy", "pw:with:colons")}}})
    found = docker_config_credentials(HOST)
    assert (found.username, found.password) == ("amy", "pw:with:colons")


def test_creds_store_runs_the_helper_with_the_host(docker_home):
    calls = install_helper(docker_home / "bin", "store1", {HOST: ("bob", "from-store")})
    write_docker_config(docker_home / "home" / ".docker", {"auths": {HOST: {}}, "credsStore": "store1"})
    found = docker_config_credentials(HOST)
    assert (found.username, found.password, found.source) == ("bob", "from-store", "docker-credential-store1")
    assert calls.read_text() == f"get {HOST}\n"


def test_cred_helpers_entry_wins_over_creds_store(docker_home):
    install_helper(docker_home / "bin", "store1", {HOST: ("bob", "from-store")})
    install_helper(docker_home / "bin", "perhost", {HOST: ("cat", "from-helper")})
    write_docker_config(docker_home / "home" / ".docker", {"credsStore": "store1", "credHelpers": {HOST: "perhost"}})
    assert docker_config_credentials(HOST).password == "from-helper"


def test_a_host_the_store_does_not_know_falls_back_to_auths(docker_home):
    install_helper(docker_home / "bin", "store1", {})
    write_docker_config(docker_home / "home" / ".docker", {"credsStore": "store1", "auths": {HOST: {"auth": _auth("dan", "in-file")}}})
    assert docker_config_credentials(HOST).password == "in-file"


def test_token_username_is_an_identity_token(docker_home):
    install_helper(docker_home / "bin", "store1", {HOST: ("<token>", "refresh-me")})
    write_docker_config(docker_home / "home" / ".docker", {"credsStore": "store1"})
    found = docker_config_credentials(HOST)
    assert found.is_identity_token and found.password == "refresh-me"


def test_docker_config_variable_is_the_only_folder_read(docker_home, monkeypatch):
    write_docker_config(docker_home / "home" / ".docker", {"auths": {HOST: {"auth": _auth("home", "ignored")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_home / "elsewhere"))
    assert docker_config_credentials(HOST) is None  # as Docker: no fallback to ~/.docker
    write_docker_config(docker_home / "elsewhere", {"auths": {HOST: {"auth": _auth("there", "used")}}})
    assert docker_config_credentials(HOST).username == "there"


def test_missing_helper_names_it_and_the_fix(docker_home):
    write_docker_config(docker_home / "home" / ".docker", {"credHelpers": {HOST: "absent"}})
    with pytest.raises(BuildError) as caught:
        docker_config_credentials(HOST)
    assert caught.value.rule == "registry.docker-config"
    assert "docker-credential-absent" in caught.value.problem and f"credHelpers.{HOST}" in caught.value.problem
    assert "PATH" in caught.value.fix


def test_failing_helper_is_explained_without_its_json(docker_home):
    helper = docker_home / "bin" / "docker-credential-broken"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\necho \'{"Username": "x", "Secret": "leaked-secret-7"\'\nexit 3\n')
    helper.chmod(0o755)
    write_docker_config(docker_home / "home" / ".docker", {"credsStore": "broken"})
    with pytest.raises(BuildError) as caught:
        docker_config_credentials(HOST)
    assert caught.value.rule == "registry.docker-config" and "exit code 3" in caught.value.problem
    assert "leaked-secret-7" not in str(caught.value)


def test_invalid_config_names_the_place_not_the_content(docker_home):
    folder = docker_home / "home" / ".docker"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"auths": {"h": {"auth": "c2VjcmV0LXZhbHVlLTk="}},,}')
    with pytest.raises(BuildError) as caught:
        docker_config_credentials(HOST)
    assert "not valid JSON (line 1" in caught.value.problem and "c2VjcmV0" not in str(caught.value)


def test_environment_credentials_need_both_halves(monkeypatch):
    monkeypatch.setenv("MLENV_BASE_REGISTRY_USERNAME", "puller")
    monkeypatch.delenv("MLENV_BASE_REGISTRY_PASSWORD", raising=False)
    with pytest.raises(MlenvError) as caught:
        environment_credentials("MLENV_BASE_REGISTRY")
    assert caught.value.headline == ("MLENV_BASE_REGISTRY_PASSWORD: is not set, but MLENV_BASE_REGISTRY_USERNAME is. "
                                     "Fix: set MLENV_BASE_REGISTRY_PASSWORD too, or unset MLENV_BASE_REGISTRY_USERNAME")
    monkeypatch.setenv("MLENV_BASE_REGISTRY_PASSWORD", "pw")
    assert environment_credentials("MLENV_BASE_REGISTRY").password == "pw"


# The token endpoint side of an identity token: httpx.MockTransport speaking the OAuth2 refresh-token
# grant of the Docker token protocol (no registry in the testbed issues tokens).

def test_identity_token_uses_the_refresh_token_grant():
    seen: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            seen.append((request.method, dict(httpx.QueryParams(request.content.decode())), request.headers.get("authorization")))
            return httpx.Response(200, json={"access_token": "acc-1"})
        if request.headers.get("authorization") != "Bearer acc-1":
            return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'})
        return httpx.Response(200)

    client = httpx.Client(auth=RegistryAuth(None, lookup=lambda: Credentials("<token>", "refresh-1")), transport=httpx.MockTransport(handler))
    assert client.get("https://reg.example/v2/a/b/manifests/1").status_code == 200
    (method, form, authorization), = seen
    assert method == "POST" and authorization is None
    assert form == {"grant_type": "refresh_token", "refresh_token": "refresh-1", "client_id": "mlenv", "service": "reg", "scope": "repository:a/b:pull"}


def test_lookup_runs_only_when_the_registry_asks():
    asked: list = []
    client = httpx.Client(auth=RegistryAuth(None, lookup=lambda: asked.append(1)), transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    assert client.get("https://open.example/v2/").status_code == 200
    assert asked == []  # an anonymous registry never runs a credential helper


def test_undecodable_auths_entry_is_one_error(docker_home):
    write_docker_config(docker_home / "home" / ".docker", {"auths": {HOST: {"auth": "bm8tY29sb24taGVyZQ=="}}})  # base64 without a colon
    with pytest.raises(BuildError) as caught:
        docker_config_credentials(HOST)
    assert caught.value.rule == "registry.docker-config" and "cannot be decoded" in caught.value.problem
    assert "bm8tY29sb24" not in str(caught.value)
