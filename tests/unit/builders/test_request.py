"""The builder interface: the request, the parts, the lock and its one hash, the builder choice."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import FrozenInstanceError, dataclass

import pytest

from mlenv.builders import BuildRequest, ImageParts, builder_for
from mlenv.definition.load import from_mapping
from mlenv.definition.reference import parse_reference, parse_repository
from mlenv.diagnostics.buildlog import BuildLog
from mlenv.diagnostics.errors import BuildError
from mlenv.oci.auth import Credentials
from mlenv.resolve.index import IndexSettings
from mlenv.resolve.lock import Lock, lock_hash
from mlenv.resolve.pip_lock import LockedWheel
from mlenv.resolve.target import PythonFacts, check_python

BASE = "sha256:" + "c" * 64
PYTHON = PythonFacts("3.11", "/usr/bin/python3.11", "2.36")
WHEELS = (
    LockedWheel("numpy", "1.26.4", "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "https://x/numpy.whl", "a" * 64, 100),
    LockedWheel("six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl", "https://x/six.whl", "b" * 64, 10),
)


def test_lock_hash_of_pip_locks_is_the_one_images_already_carry():
    """Pinned from the implementation before the builder interface: existing images' lock hashes stay."""
    assert lock_hash(Lock(BASE, PYTHON, WHEELS)) == "0cf63afe2f7e6923a058ed80c90f37e8247ccb24f12687a89aeeefe2dec8981e"
    assert lock_hash(Lock(BASE, None)) == "ee4e7905d7ac16fe6ebb73be42c81e9eceef4252c10b2b32ad4e1de5af2a3eb1"  # nothing installed


def test_lock_hash_covers_base_python_version_and_each_wheel_file_only():
    reference = lock_hash(Lock(BASE, PYTHON, WHEELS))
    assert lock_hash(Lock(BASE, PythonFacts("3.11", "/usr/local/bin/python3.11", "2.28"), WHEELS)) == reference  # the version, not the path
    assert lock_hash(Lock(BASE, PythonFacts("3.12", "/usr/bin/python3.12", "2.36"), WHEELS)) != reference
    assert lock_hash(Lock("sha256:" + "d" * 64, PYTHON, WHEELS)) != reference
    other_file = LockedWheel("six", "1.16.0", "six-1.16.0-py3-none-any.whl", "https://x/six.whl", "b" * 64, 10)
    assert lock_hash(Lock(BASE, PYTHON, (WHEELS[0], other_file))) != reference
    moved = LockedWheel("six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl", "https://mirror/six.whl", "b" * 64, 99)
    assert lock_hash(Lock(BASE, PYTHON, (WHEELS[0], moved))) == reference  # where it was downloaded from is not the lock


@dataclass(frozen=True)
class _Record:
    pin: str


@dataclass(frozen=True)
class _Conda:
    records: tuple
    identity_value: dict

    def identity(self) -> dict:
        return self.identity_value


def test_a_conda_part_joins_the_hash_and_leads_the_packages():
    conda = _Conda((_Record("python==3.11.9=h1_0"),), {"records": [{"name": "python"}]})
    with_conda = Lock(BASE, PYTHON, WHEELS, conda=conda)
    assert lock_hash(with_conda) != lock_hash(Lock(BASE, PYTHON, WHEELS))
    assert lock_hash(with_conda) != lock_hash(Lock(BASE, PYTHON, WHEELS, conda=_Conda((), {"records": []})))
    assert with_conda.packages == ["python==3.11.9=h1_0", "numpy==1.26.4", "six==1.16.0"]
    assert Lock(BASE, PYTHON, WHEELS).packages == ["numpy==1.26.4", "six==1.16.0"]


def _request(spec_mapping: dict, credentials: Credentials | None = None) -> BuildRequest:
    return BuildRequest(spec=from_mapping(spec_mapping), target=parse_repository("registry.example:5000/envs/x"), definition_hash="f" * 64,
                        credentials=credentials, index=IndexSettings(), log=BuildLog("test"))


def _login(credentials: Credentials | None) -> tuple | None:
    return (credentials.username, credentials.password) if credentials else None


def test_base_credentials_are_the_definitions_login_else_the_environments_else_the_targets_on_the_same_host(monkeypatch):
    monkeypatch.delenv("MLENV_BASE_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("MLENV_BASE_REGISTRY_PASSWORD", raising=False)
    target_login = Credentials("pusher", "push-secret")
    same_host = parse_reference("registry.example:5000/base/python:3.11")
    other_host = parse_reference("other.example/base/python:3.11")
    plain = _request({"image": "registry.example:5000/base/python:3.11"}, target_login)
    assert plain.base_credentials(same_host) == target_login
    assert plain.base_credentials(other_host) is None
    own = _request({"image": "other.example/base/python:3.11",
                    "docker": {"base_image_registry": {"address": "other.example", "username": "puller", "password": "pull-secret"}}}, target_login)
    assert _login(own.base_credentials(other_host)) == ("puller", "pull-secret")
    monkeypatch.setenv("MLENV_BASE_REGISTRY_USERNAME", "env-puller")
    monkeypatch.setenv("MLENV_BASE_REGISTRY_PASSWORD", "env-secret")
    assert _login(plain.base_credentials(same_host)) == _login(plain.base_credentials(other_host)) == ("env-puller", "env-secret")
    assert _login(own.base_credentials(other_host)) == ("puller", "pull-secret")  # the definition's own login first


def test_the_request_is_frozen():
    request = _request({"image": "registry.example:5000/base/python:3.11"})
    with pytest.raises(FrozenInstanceError):
        request.definition_hash = "0" * 64


def test_image_parts_release_what_they_hold_once_and_list_the_locks_packages():
    closed = []
    resources = ExitStack()
    resources.callback(closed.append, "base store")
    with ImageParts(base=None, base_store=None, layers=(), config={"config": {}}, lock=Lock(BASE, PYTHON, WHEELS), resources=resources) as parts:
        assert parts.packages == ["numpy==1.26.4", "six==1.16.0"] and not parts.verified
        assert closed == []
    parts.close()
    assert closed == ["base store"]


def test_the_builder_follows_the_definition():
    base = {"image": "registry.example/base/python:3.11", "pip": ["six==1.16.0"]}
    assert type(builder_for(from_mapping(base))).__name__ == "DaemonlessBuilder"
    assert type(builder_for(from_mapping({**base, "builder": "docker"}))).__name__ == "DockerBuilder"
    assert type(builder_for(from_mapping({"dockerfile": "FROM registry.example/base/python:3.11\n"}))).__name__ == "DockerBuilder"


@pytest.mark.parametrize("wanted", [None, "3.11", "3.11.4"])
def test_a_python_pin_the_base_image_satisfies(wanted):
    check_python(wanted, PYTHON)


def test_a_python_pin_the_base_image_does_not_satisfy_names_both_versions():
    with pytest.raises(BuildError) as caught:
        check_python("3.12", PYTHON)
    assert caught.value.rule == "image.python-mismatch"
    assert str(caught.value).startswith("python.version: the definition asks for Python 3.12, the base image has Python 3.11")
    assert "change the Python pin to 3.11" in caught.value.fix
    with pytest.raises(BuildError):
        check_python("3.1", PYTHON)  # not a prefix match of 3.11
