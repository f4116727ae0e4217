"""Real failures through the real tools on this machine: each arrives as a diagnosis with its fix,
its evidence, and a saved log that holds no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.oci.auth import Credentials
from mlenv.diagnostics.errors import BuildError
from mlenv.resolve.index import IndexSettings
from mlenv.pipeline import build
from mlenv.definition.load import from_mapping
from testbed import services

pytestmark = pytest.mark.integration


def failure(base, repository, *pip, index=None, credentials=None) -> BuildError:
    with pytest.raises(BuildError) as caught:
        build(from_mapping({"image": base, "pip": list(pip)}), repository, credentials, index=index)
    error = caught.value
    assert error.log_path and Path(error.log_path).exists(), "every failure saves its full log"
    return error


@pytest.fixture(scope="module")
def private_index(wheelhouse, tmp_path_factory):
    server = services.start_pypiserver(wheelhouse, tmp_path_factory.mktemp("private-index"), htpasswd=("reader", "right-pass"))
    yield server
    server.stop()


def test_conflict_names_both_sides(registry, base_image, index_settings):
    error = failure(base_image, f"{registry.host}/envs/conflict", "requests==2.32.3", "urllib3<1.21", index=index_settings)
    assert error.rule == "resolution.conflict"
    assert "urllib3>=1.21.1,<3" in error.problem and "urllib3<1.21" in error.problem
    assert "relax one side" in error.fix


def test_python_version_mismatch(registry, base_image, index_settings):
    error = failure(base_image, f"{registry.host}/envs/newpy", "needs-py399", index=index_settings)
    assert error.rule == "resolution.python-version"
    assert "needs-py399 requires Python >=3.99" in error.problem


def test_missing_base_image_is_diagnosed(registry, index_settings):
    error = failure(f"{registry.host}/base/absent:1", f"{registry.host}/envs/x", "six", index=index_settings)
    assert error.rule == "image.not-found" and "push the base image" in error.fix


def test_base_without_python_is_diagnosed(registry, nopython_image, index_settings):
    error = failure(nopython_image, f"{registry.host}/envs/x", "six", index=index_settings)
    assert error.rule == "image.no-python"


def test_index_unreachable(registry, base_image, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    index = IndexSettings(index_url=f"http://127.0.0.1:{services.free_port()}/simple/")
    error = failure(base_image, f"{registry.host}/envs/x", "six", index=index)
    assert error.rule == "resolution.index-unreachable"
    assert any("Connection refused" in line for _, line in error.evidence)


def test_index_tls_failure(registry, base_image, index, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    error = failure(base_image, f"{registry.host}/envs/x", "six", index=IndexSettings(index_url=index.url.replace("http://", "https://")))
    assert error.rule == "resolution.index-tls" and "SSL_CERT_FILE" in error.fix


def test_private_index_with_wrong_password_is_diagnosed_and_the_password_never_shows(registry, base_image, private_index, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    url = private_index.url.replace("http://", "http://reader:wrong-pass-XYZ@")
    error = failure(base_image, f"{registry.host}/envs/x", "six", index=IndexSettings(index_url=url))
    assert error.rule == "resolution.index-unauthorized"
    assert "wrong-pass-XYZ" not in str(error)
    assert "wrong-pass-XYZ" not in Path(error.log_path).read_text()


def test_private_index_with_the_right_password_resolves(registry, base_image, private_index):
    url = private_index.url.replace("http://", "http://reader:right-pass@")
    result = build(from_mapping({"image": base_image, "pip": ["six==1.16.0"]}), f"{registry.host}/envs/private-index", index=IndexSettings(index_url=url))
    assert result.packages == ["pip==24.3.1", "six==1.16.0"]


def test_push_with_wrong_credentials(auth_registry, base_image, index_settings):
    error = failure(base_image, f"{auth_registry.host}/envs/denied", "six==1.16.0", index=index_settings,
                    credentials=Credentials("builder", "not-the-password-Q"))
    assert error.rule == "registry.unauthorized"
    assert "not-the-password-Q" not in str(error) and "not-the-password-Q" not in Path(error.log_path).read_text()


def test_registry_unreachable(base_image, index_settings):
    error = failure(base_image, f"127.0.0.1:{services.free_port()}/envs/x", "six==1.16.0", index=index_settings)
    assert error.rule == "registry.unreachable"


def test_package_the_index_does_not_hold(registry, base_image, index_settings):
    error = failure(base_image, f"{registry.host}/envs/nosuch", "no-such-package-mlenv==1.0", index=index_settings)
    assert error.rule == "resolution.package-not-found", error.render()
    assert "no-such-package-mlenv" in error.render()


def test_base_image_on_a_registry_that_refuses_anonymous_pulls(auth_registry, registry, index_settings):
    from mlenv.oci.rootfs import import_rootfs

    private_base = f"{auth_registry.host}/base/private:1"
    import_rootfs(services.ensure_nopython_rootfs(), private_base, Credentials("builder", "s3cret-pass"))
    error = failure(private_base, f"{registry.host}/envs/from-private", "six==1.16.0", index=index_settings)
    assert error.rule == "image.unauthorized-pull", error.render()
    assert "s3cret-pass" not in error.render()


def test_no_docker_engine_is_diagnosed_from_the_real_cli_message():
    from mlenv.diagnostics.diagnose import diagnose

    done = __import__("subprocess").run(["/usr/bin/docker", "-H", "unix:///nonexistent/docker.sock", "info"], capture_output=True, text=True)
    assert done.returncode != 0
    (top, *_) = diagnose(done.stdout + done.stderr)
    assert top.rule.id == "docker.engine-unreachable" and "start dockerd" in top.fix


def test_an_oversized_build_context_is_diagnosed_from_our_own_message(tmp_path):
    from mlenv.definition.build_context import hash_context
    from mlenv.diagnostics.diagnose import diagnose
    from mlenv.diagnostics.errors import SpecError

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 4096)
    with pytest.raises(SpecError) as caught:
        hash_context(tmp_path, size_limit=1024)
    (top, *_) = diagnose(str(caught.value))
    assert top.rule.id == "docker.context-too-large" and ".dockerignore" in top.fix
