"""Machine settings both shells read: registry login, default registry, index, cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.cache import cache_root
from mlenv.diagnostics.errors import MlenvError
from mlenv.oci.auth import Credentials
from mlenv.settings import DEFAULT_REGISTRY, cache_dir, default_registry, index_settings, registry_credentials


def _login(credentials: Credentials | None) -> tuple | None:
    return (credentials.username, credentials.password) if credentials else None


def test_registry_login_from_the_environment_is_both_halves_or_neither(monkeypatch):
    monkeypatch.delenv("MLENV_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("MLENV_REGISTRY_PASSWORD", raising=False)
    assert registry_credentials() is None
    monkeypatch.setenv("MLENV_REGISTRY_USERNAME", "builder")
    with pytest.raises(MlenvError, match="MLENV_REGISTRY_PASSWORD"):
        registry_credentials()
    monkeypatch.setenv("MLENV_REGISTRY_PASSWORD", "s3cret")
    assert _login(registry_credentials()) == ("builder", "s3cret")
    assert "s3cret" not in repr(registry_credentials())


def test_given_halves_win_and_are_completed_from_the_environment(monkeypatch):
    monkeypatch.setenv("MLENV_REGISTRY_USERNAME", "builder")
    monkeypatch.setenv("MLENV_REGISTRY_PASSWORD", "s3cret")
    assert _login(registry_credentials("other", "given")) == ("other", "given")
    assert _login(registry_credentials("other")) == ("other", "s3cret")  # each half on its own, as the provider reads its inputs
    monkeypatch.delenv("MLENV_REGISTRY_PASSWORD")
    assert registry_credentials("other") is None


def test_default_registry_is_the_embedded_layout_unless_set(monkeypatch):
    monkeypatch.delenv("MLENV_REGISTRY", raising=False)
    assert default_registry() == DEFAULT_REGISTRY == "oci:.mlenv/images"
    monkeypatch.setenv("MLENV_REGISTRY", "127.0.0.1:5000/envs")
    assert default_registry() == "127.0.0.1:5000/envs"


def test_index_from_the_environment_or_the_command_line(monkeypatch):
    monkeypatch.setenv("MLENV_INDEX_URL", "http://127.0.0.1:9/simple")
    assert index_settings().index_url == "http://127.0.0.1:9/simple"
    assert index_settings("http://127.0.0.1:8/simple").index_url == "http://127.0.0.1:8/simple"


def test_cache_folder_from_the_environment_else_the_users(monkeypatch, tmp_path):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and cache_root() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    monkeypatch.delenv("MLENV_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "mlenv"


def test_registry_mirrors_are_urls_or_hosts_separated_by_spaces_or_commas(monkeypatch):
    from mlenv.settings import registry_mirrors

    monkeypatch.delenv("MLENV_REGISTRY_MIRRORS", raising=False)
    assert registry_mirrors() == ()
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", " https://Mirror.example/ ,http://127.0.0.1:5001  mirror.corp:5000 ")
    assert registry_mirrors() == (("https", "mirror.example"), ("http", "127.0.0.1:5001"), ("", "mirror.corp:5000"))
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", "https://mirror.example/v2/library")
    with pytest.raises(MlenvError, match="MLENV_REGISTRY_MIRRORS: mirror 1 is not a registry URL"):
        registry_mirrors()
    monkeypatch.setenv("MLENV_REGISTRY_MIRRORS", "https://ok.example https://puller:hunter2@mirror.example")
    with pytest.raises(MlenvError) as caught:
        registry_mirrors()
    assert "mirror 2 has a login in its URL" in str(caught.value) and "hunter2" not in str(caught.value)


def test_the_fallback_base_image_is_the_given_one_else_the_environment(monkeypatch):
    from mlenv.settings import base_image

    monkeypatch.delenv("MLENV_BASE_IMAGE", raising=False)
    assert base_image() is None and base_image("python:3.11") == "python:3.11"
    monkeypatch.setenv("MLENV_BASE_IMAGE", "127.0.0.1:5000/base/python:3.11-bookworm")
    assert base_image() == "127.0.0.1:5000/base/python:3.11-bookworm" and base_image("python:3.11") == "python:3.11"
