"""`mlenv lock`: the resolved environment in formats other tools install from, with no token in them."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def write_env(tmp_path, image: str, channel: str):
    env = tmp_path / "env.yml"
    env.write_text(f"image: {image}\nconda:\n  channels: ['{channel}']\n"
                   "  dependencies: [python=3.11, mlhello, chain-a, {pip: [six==1.16.0]}]\n")
    return env


def lock(env, index, *options, environ=None):
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "lock", str(env), "--index-url", index.url, *options],
                          capture_output=True, text=True, env=environ)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_explicit_list_installs_with_rattler_and_names_every_package_by_url_and_md5(tmp_path, debian_without_python_image, conda_channel, index):
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    text = lock(write_env(tmp_path, debian_without_python_image, conda_channel.url), index)
    lines = text.splitlines()
    assert lines[:3] == ["# conda explicit specification, written by mlenv lock", "# platform: linux-64", "@EXPLICIT"]
    urls = [line for line in lines if line.startswith("http")]
    names = [url.rsplit("/", 1)[1].split("#")[0] for url in urls]
    assert names.index("chain-c-1.0-0.conda") < names.index("chain-b-1.0-0.conda") < names.index("chain-a-1.0-0.conda")  # install order
    assert all("#" in url and len(url.split("#")[1]) == 32 for url in urls)
    assert lines[-1].startswith("# pip: six==1.16.0 --hash=sha256:")
    parsed = ExplicitEnvironmentSpec.from_str(text)
    assert sorted(p.url.rsplit("/", 1)[1].split("#")[0] for p in parsed.packages) == sorted(names)


def test_pixi_lock_reads_back_and_requirements_have_hashes(tmp_path, debian_without_python_image, conda_channel, index):
    from rattler import LockFile

    env = write_env(tmp_path, debian_without_python_image, conda_channel.url)
    lock(env, index, "--format", "pixi", "-o", str(tmp_path / "pixi.lock"))
    read = LockFile.from_path(tmp_path / "pixi.lock")
    packages = read.default_environment().packages(read.platforms()[0])
    names = sorted(p.name for p in packages)
    assert {"python", "mlhello", "chain-a", "chain-b", "chain-c", "pip", "six"} <= set(names)
    requirements = lock(env, index, "--format", "requirements")
    assert requirements.startswith("six==1.16.0 --hash=sha256:") and requirements.count("\n") == 1


def test_a_token_never_reaches_a_lock_file(tmp_path, debian_without_python_image, conda_channel_token, index):
    import os

    token = conda_channel_token.extra["token"]
    env = write_env(tmp_path, debian_without_python_image, f"{conda_channel_token.url}/t/${{CHANNEL_TOKEN}}")
    environ = {**os.environ, "CHANNEL_TOKEN": token}
    for form in ("explicit", "pixi"):
        text = lock(env, index, "--format", form, environ=environ)
        (tmp_path / f"lock.{form}").write_text(text)
        assert token not in text and "/t/" not in text and "mlhello" in text, text
