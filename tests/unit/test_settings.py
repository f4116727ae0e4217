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
