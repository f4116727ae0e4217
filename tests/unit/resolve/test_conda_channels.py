"""Channel names to URLs (alias, custom channels, defaults, mirrors), tokens kept out of what is shown,
and the target's virtual packages: the machine's settings, never the host's libc or GPU."""

from __future__ import annotations

from mlenv.diagnostics.redact import public_url
from mlenv.resolve.conda_channels import ChannelSettings, secrets_of
from mlenv.resolve.conda_target import CondaTarget


def test_named_channels_go_through_the_alias_and_urls_stay(monkeypatch):
    monkeypatch.setenv("MLENV_CONDA_CHANNEL_ALIAS", "http://127.0.0.1:9/mirror/")
    monkeypatch.setenv("CONDARC", "/nonexistent")
    settings = ChannelSettings.from_environment()
    assert settings.resolve(("conda-forge", "https://example.test/ch/", "conda-forge", "nodefaults")) == (
        "http://127.0.0.1:9/mirror/conda-forge", "https://example.test/ch")


def test_condarc_alias_custom_channels_defaults_and_mirrors(tmp_path, monkeypatch):
    condarc = tmp_path / "condarc"
    condarc.write_text("channel_alias: https://alias.test\ncustom_channels:\n  internal: https://corp.test/conda\n"
                       "default_channels: [https://corp.test/main, https://corp.test/r]\n"
                       "mirrored_channels:\n  https://alias.test/conda-forge: [http://127.0.0.1:8/cf]\n")
    monkeypatch.setenv("CONDARC", str(condarc))
    monkeypatch.delenv("MLENV_CONDA_CHANNEL_ALIAS", raising=False)
    monkeypatch.delenv("MLENV_CONDA_DEFAULTS_URL", raising=False)
    settings = ChannelSettings.from_environment()
    assert settings.resolve(("internal", "defaults", "conda-forge")) == (
        "https://corp.test/conda/internal", "https://corp.test/main", "https://corp.test/r", "https://alias.test/conda-forge")
    assert settings.mirror_for("https://alias.test/conda-forge/linux-64") == "http://127.0.0.1:8/cf/linux-64"
    assert settings.mirror_for("https://corp.test/main") == "https://corp.test/main"


def test_tokens_and_passwords_never_shown():
    url = "https://user:pa55@host.test/t/tok-123/private/linux-64/a-1-0.conda"
    assert public_url(url) == "https://host.test/private/linux-64/a-1-0.conda"
    assert sorted(secrets_of(url)) == ["pa55", "tok-123"]
    assert public_url("https://host.test/t/${TOKEN}") == "https://host.test"  # a channel URL ending in its token


def test_target_virtual_packages_come_from_the_image_and_overrides(monkeypatch):
    monkeypatch.delenv("CONDA_OVERRIDE_CUDA", raising=False)
    monkeypatch.delenv("CONDA_OVERRIDE_LINUX", raising=False)
    names = {name: version for name, version, _ in CondaTarget.for_image("2.36").virtual_packages()}
    assert names["__glibc"] == "2.36" and "__cuda" not in names and names["__linux"] == "5.10"
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.4")
    gpu = {name: version for name, version, _ in CondaTarget.for_image("2.31").virtual_packages()}
    assert gpu["__cuda"] == "12.4" and gpu["__glibc"] == "2.31"
    assert CondaTarget.for_image("2.36", cuda="11.8").cuda == "11.8"


def test_the_defaults_channel_is_warned_about_and_maps_to_a_configurable_url(monkeypatch):
    from mlenv.definition.load import from_mapping
    from mlenv.definition.rules import findings

    spec = from_mapping({"image": "registry.example/base@sha256:" + "0" * 64,
                         "conda": {"channels": ["defaults"], "dependencies": ["python=3.11", "numpy=1.26"]}})
    warned = [w.headline for w in findings(spec).warnings if w.where == "conda.channels"]
    assert len(warned) == 1 and "not conda-forge" in warned[0] and "MLENV_CONDA_DEFAULTS_URL" in warned[0]
    monkeypatch.setenv("MLENV_CONDA_DEFAULTS_URL", "http://127.0.0.1:9/main http://127.0.0.1:9/r")
    monkeypatch.setenv("CONDARC", "/nonexistent")
    assert ChannelSettings.from_environment().resolve(("defaults",)) == ("http://127.0.0.1:9/main", "http://127.0.0.1:9/r")


def test_channel_secrets_are_the_expanded_tokens_and_passwords(monkeypatch):
    from mlenv.definition.conda_file import parse_conda_mapping
    from mlenv.resolve.conda_channels import channel_secrets

    monkeypatch.setenv("TOKEN_A", "tok-secret-1")
    monkeypatch.setenv("PASS_B", "pw-secret-2")
    conda = parse_conda_mapping({"channels": ["https://h.test/t/${TOKEN_A}/ch", "https://u:${PASS_B}@h.test/ch", "conda-forge"],
                                 "dependencies": ["python=3.11", "numpy=1.26"]})
    assert sorted(channel_secrets(conda)) == ["pw-secret-2", "tok-secret-1"]
