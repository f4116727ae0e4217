"""Session fixtures: real servers on 127.0.0.1, started by the tests themselves.

Nothing here skips: a server that cannot start fails the session loudly, in CI and locally.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlenv.resolve.index import IndexSettings
from mlenv.oci.rootfs import import_rootfs
from testbed import services

BASE_TAG = "base/python:3.11-bookworm"


@pytest.fixture(scope="session", autouse=True)
def build_cache(tmp_path_factory) -> Path:
    """Builds in tests use a cache of their own (wheels, layers, base facts), never the user's."""
    path = tmp_path_factory.mktemp("mlenv-cache")
    os.environ["MLENV_CACHE_DIR"] = str(path)
    os.environ.setdefault("MLENV_CATALOGUE_SETTLE", "0.5")  # a named build registers its version: settle quickly on 127.0.0.1
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    server = services.start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    server = services.start_registry(tmp_path_factory.mktemp("auth-registry"), htpasswd=("builder", "s3cret-pass"))
    yield server
    server.stop()


@pytest.fixture
def fault_proxy(registry):
    """A fault-injecting proxy (testbed/fault_proxy.py) in front of the session's registry: each test
    sets its rules and counts the requests that reached it."""
    from testbed.fault_proxy import FaultProxy

    proxy = FaultProxy(registry.host).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    return services.ensure_wheelhouse()


@pytest.fixture(scope="session")
def index(wheelhouse, tmp_path_factory):
    server = services.start_pypiserver(wheelhouse, tmp_path_factory.mktemp("pypiserver"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def index_settings(index) -> IndexSettings:
    return IndexSettings(index_url=index.url)


@pytest.fixture(scope="session")
def base_image(registry) -> str:
    """Debian bookworm with python3, from debootstrap (cached), pushed with our registry client."""
    reference = f"{registry.host}/{BASE_TAG}"
    import_rootfs(services.ensure_base_rootfs(), reference)
    return reference


@pytest.fixture(scope="session")
def nopython_image(registry) -> str:
    reference = f"{registry.host}/base/nopython:1"
    import_rootfs(services.ensure_nopython_rootfs(), reference)
    return reference


@pytest.fixture(scope="session")
def debian_without_python_image(registry) -> str:
    """Debian bookworm with glibc and no Python at all: a conda environment must bring its own."""
    reference = f"{registry.host}/base/debian-nopython:bookworm"
    import_rootfs(services.ensure_debian_without_python_rootfs(), reference)
    return reference


@pytest.fixture(scope="session")
def docker_engine():
    services.ensure_dockerd()
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def conda_channel(tmp_path_factory):
    """The local conda channel of real .conda packages (testbed/conda_channel.py), served on 127.0.0.1;
    `url` is the channel URL, `root` its folder."""
    from testbed.conda_channel import ensure_conda_channel, start_conda_channel

    server = start_conda_channel(ensure_conda_channel(), tmp_path_factory.mktemp("conda-channel"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def conda_channel_token(tmp_path_factory):
    """The same channel behind an anaconda.org-style token: only `{url}/t/{extra['token']}/...` answers."""
    import secrets

    from testbed.conda_channel import ensure_conda_channel, start_conda_channel

    token = f"tk-{secrets.token_hex(8)}"
    server = start_conda_channel(ensure_conda_channel(), tmp_path_factory.mktemp("conda-channel-token"), token=token)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def conda_channel_login(tmp_path_factory):
    """The same channel behind HTTP basic auth: the login is in `extra["login"]` (user, password)."""
    import secrets

    from testbed.conda_channel import ensure_conda_channel, start_conda_channel

    login = ("condauser", f"pw-{secrets.token_hex(6)}")
    server = start_conda_channel(ensure_conda_channel(), tmp_path_factory.mktemp("conda-channel-login"), basic=login)
    server.extra["login"] = login
    yield server
    server.stop()
