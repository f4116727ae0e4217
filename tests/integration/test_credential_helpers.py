"""`mlenv build` with only Docker's config for logins: a credential helper (credsStore, credHelpers)
answering for an htpasswd registry, and a private base image on a second htpasswd registry logged in
through $MLENV_BASE_REGISTRY_USERNAME / _PASSWORD or a helper. No secret in any output or saved log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.definition.load import load_file
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.oci.auth import Credentials
from mlenv.oci.registry import RegistryStore
from mlenv.oci.rootfs import import_rootfs
from testbed import services
from tests.credential_helper import install_helper, write_docker_config

pytestmark = pytest.mark.integration

PUSHER = ("builder", "s3cret-pass")  # the auth_registry fixture's htpasswd login
PULLER = ("puller", "base-Secr3t-pull")
HELPER = "mlenvtest"


@pytest.fixture(scope="module")
def base_registry(tmp_path_factory):
    """A second htpasswd registry, on another host:port, holding a private base image."""
    server = services.start_registry(tmp_path_factory.mktemp("base-registry"), htpasswd=PULLER)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def private_base(base_registry) -> str:
    reference = f"{base_registry.host}/base/python:3.11-private"
    import_rootfs(services.ensure_base_rootfs(), reference, Credentials(*PULLER))
    return reference


def cli_env(home: Path, *, helper_bin: Path | None = None, **extra: str) -> dict[str, str]:
    """The user's environment with no login in it: HOME is HOME, logins only from what the test adds."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLENV_REGISTRY_", "MLENV_BASE_REGISTRY_")) and k != "DOCKER_CONFIG"}
    env["HOME"] = str(home)
    if helper_bin:
        env["PATH"] = f"{helper_bin}:{env['PATH']}"
    return {**env, **extra}


def mlenv_build(tmp_path: Path, image: str, repository: str, index, env: dict[str, str]) -> subprocess.CompletedProcess:
    definition = tmp_path / "env.yml"
    definition.write_text(f"image: {image}\npip: [six==1.16.0]\n")
    command = [sys.executable, "-m", "mlenv.cli", "build", str(definition), "--registry", repository, "--index-url", index.url, "--json"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def assert_no_secret(done: subprocess.CompletedProcess, *secrets: str) -> str:
    """No secret in stdout, stderr or the saved log (when there is one); returns the log text."""
    match = re.search(r"full log: (\S+)", done.stderr)
    log = Path(match.group(1)).read_text() if match else ""
    for secret in secrets:
        assert secret not in done.stdout and secret not in done.stderr and secret not in log
    return log


def pushed(host: str, repository: str, digest: str) -> bool:
    store = RegistryStore(host, repository, Credentials(*PUSHER))
    try:
        return store.has_manifest(digest)
    finally:
        store.close()


def test_creds_store_alone_pushes_to_an_htpasswd_registry(tmp_path, auth_registry, base_image, index):
    calls = install_helper(tmp_path / "bin", HELPER, {auth_registry.host: PUSHER})
    write_docker_config(tmp_path / "home" / ".docker", {"credsStore": HELPER})
    done = mlenv_build(tmp_path, base_image, f"{auth_registry.host}/x/creds-store", index, cli_env(tmp_path / "home", helper_bin=tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    assert_no_secret(done, PUSHER[1])
    assert pushed(auth_registry.host, "x/creds-store", json.loads(done.stdout)["digest"])
    assert calls.read_text().splitlines() == [f"get {auth_registry.host}"]  # asked once, for the target only


def test_cred_helpers_entry_under_docker_config(tmp_path, auth_registry, base_image, index):
    install_helper(tmp_path / "bin", HELPER, {auth_registry.host: PUSHER})
    config = write_docker_config(tmp_path / "docker-config", {"credHelpers": {auth_registry.host: HELPER}})
    env = cli_env(tmp_path / "empty-home", helper_bin=tmp_path / "bin", DOCKER_CONFIG=str(config))
    done = mlenv_build(tmp_path, base_image, f"{auth_registry.host}/x/cred-helpers", index, env)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done, PUSHER[1])
    assert pushed(auth_registry.host, "x/cred-helpers", json.loads(done.stdout)["digest"])


def test_a_wrong_secret_from_the_helper_is_the_unauthorized_explanation(tmp_path, auth_registry, base_image, index):
    install_helper(tmp_path / "bin", HELPER, {auth_registry.host: ("builder", "wrong-Secr3t-from-helper")})
    write_docker_config(tmp_path / "home" / ".docker", {"credsStore": HELPER})
    done = mlenv_build(tmp_path, base_image, f"{auth_registry.host}/x/wrong", index, cli_env(tmp_path / "home", helper_bin=tmp_path / "bin"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unauthorized" in done.stderr and "with the login from docker-credential-mlenvtest" in done.stderr
    assert "diagnosis: registry.unauthorized" in done.stderr
    log = assert_no_secret(done, "wrong-Secr3t-from-helper")
    assert "unauthorized" in log
    assert not pushed(auth_registry.host, "x/wrong", tag_for(definition_hash(load_file(tmp_path / "env.yml"))))


def test_a_helper_missing_from_path_is_named_with_the_fix(tmp_path, auth_registry, base_image, index):
    write_docker_config(tmp_path / "home" / ".docker", {"credsStore": HELPER})
    done = mlenv_build(tmp_path, base_image, f"{auth_registry.host}/x/missing", index, cli_env(tmp_path / "home"))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "Warning" not in done.stderr
    first = next(line for line in done.stderr.splitlines() if line.startswith("error: "))
    assert "credsStore names the credential helper docker-credential-mlenvtest, which is not on PATH" in first
    assert "Fix: install docker-credential-mlenvtest or add its folder to PATH" in first
    assert "diagnosis: registry.docker-config" in done.stderr


def test_base_image_on_another_host_with_the_base_registry_variables(tmp_path, auth_registry, private_base, index):
    env = cli_env(tmp_path / "home", MLENV_REGISTRY_USERNAME=PUSHER[0], MLENV_REGISTRY_PASSWORD=PUSHER[1],
                  MLENV_BASE_REGISTRY_USERNAME=PULLER[0], MLENV_BASE_REGISTRY_PASSWORD=PULLER[1])
    done = mlenv_build(tmp_path, private_base, f"{auth_registry.host}/x/from-private", index, env)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done, PUSHER[1], PULLER[1])
    assert pushed(auth_registry.host, "x/from-private", json.loads(done.stdout)["digest"])


def test_base_image_on_another_host_without_a_login_is_the_pull_diagnosis(tmp_path, auth_registry, private_base, index):
    env = cli_env(tmp_path / "home", MLENV_REGISTRY_USERNAME=PUSHER[0], MLENV_REGISTRY_PASSWORD=PUSHER[1])
    done = mlenv_build(tmp_path, private_base, f"{auth_registry.host}/x/no-base-login", index, env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"pulling the base image {private_base} was refused" in done.stderr
    assert "diagnosis: image.unauthorized-pull" in done.stderr and "MLENV_BASE_REGISTRY_USERNAME" in done.stderr
    assert_no_secret(done, PUSHER[1])


def test_base_image_login_from_the_helper_for_the_base_host(tmp_path, registry, base_registry, private_base, index):
    calls = install_helper(tmp_path / "bin", HELPER, {base_registry.host: PULLER})
    write_docker_config(tmp_path / "home" / ".docker", {"credsStore": HELPER})
    done = mlenv_build(tmp_path, private_base, f"{registry.host}/x/base-by-helper", index, cli_env(tmp_path / "home", helper_bin=tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    assert_no_secret(done, PULLER[1])
    assert calls.read_text().splitlines() == [f"get {base_registry.host}"]  # the open target registry never asked


def test_half_of_the_base_registry_variables_is_one_error(tmp_path, registry, private_base, index):
    env = cli_env(tmp_path / "home", MLENV_BASE_REGISTRY_USERNAME=PULLER[0])
    done = mlenv_build(tmp_path, private_base, f"{registry.host}/x/half", index, env)
    assert done.returncode == 2
    errors = "".join(line for line in done.stderr.splitlines(keepends=True) if not line.startswith("warning: "))
    assert errors == ("error: MLENV_BASE_REGISTRY_PASSWORD: is not set, but MLENV_BASE_REGISTRY_USERNAME is. "
                           "Fix: set MLENV_BASE_REGISTRY_PASSWORD too, or unset MLENV_BASE_REGISTRY_USERNAME\n")


def test_docker_builder_pulls_the_private_base_with_the_base_registry_variables(tmp_path, registry, private_base, docker_engine):
    definition = tmp_path / "env.yml"
    definition.write_text(f"dockerfile: |\n  FROM {private_base}\n  RUN echo built > /built.txt\n")
    env = cli_env(tmp_path / "home", MLENV_BASE_REGISTRY_USERNAME=PULLER[0], MLENV_BASE_REGISTRY_PASSWORD=PULLER[1])
    command = [sys.executable, "-m", "mlenv.cli", "build", str(definition), "--registry", f"{registry.host}/x/docker-private-base", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done, PULLER[1])
    store = RegistryStore(registry.host, "x/docker-private-base")
    try:
        assert store.has_manifest(json.loads(done.stdout)["digest"])
    finally:
        store.close()
