"""Conda environments, daemonless: solved for the target image, installed on the host relocated to the
image prefix, one layer per package, pip on top; run in a real Docker engine on a base with no Python."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import BuildError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.pipeline import build

pytestmark = pytest.mark.integration

PACKAGES = ["python=3.11", "pip", "mlhello", "prefixprobe", "chain-a", "tinylib=2.0"]


def conda_env(image: str, channel: str, packages=PACKAGES, pip=("six==1.16.0",)) -> dict:
    dependencies = [*packages, {"pip": list(pip)}] if pip else list(packages)
    return {"image": image, "conda": {"channels": [channel], "dependencies": dependencies}}


def tags_of(registry, repository):
    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return [] if response.status_code == 404 else (response.json().get("tags") or [])


def our_layers(registry, result) -> list[bytes]:
    """The uncompressed tars of the layers mlenv added on top of the base."""
    manifest = httpx.get(f"{registry.url}/v2/{result.image_ref.split('/', 1)[1].split('@')[0]}/manifests/{result.digest}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    repository = result.image_ref.split("/", 1)[1].split("@")[0]
    base_count = len(manifest["layers"]) - len(result.layers)
    return [gzip.decompress(httpx.get(f"{registry.url}/v2/{repository}/blobs/{layer['digest']}").content)
            for layer in manifest["layers"][base_count:]]


@pytest.fixture(scope="module")
def built(registry, debian_without_python_image, conda_channel, index_settings, build_cache):
    definition = from_mapping(conda_env(debian_without_python_image, conda_channel.url))
    shutil.rmtree(build_cache / "blob-sources", ignore_errors=True)  # a cold push: no record to mount these layers from
    return build(definition, f"{registry.host}/envs/conda", index=index_settings)


def test_the_image_runs_the_environments_own_python_entry_point_and_relocated_files(built, docker_engine):
    docker_engine.images.pull(built.image_ref)

    def run(*command: str) -> str:
        return docker_engine.containers.run(built.image_ref, list(command), remove=True).decode()

    script = "import sys, os, mlhello, six; print(sys.executable, sys.prefix, six.__version__, os.environ['CONDA_PREFIX'])"
    assert run("python", "-c", script).split() == ["/opt/env/bin/python", "/opt/env", "1.16.0", "/opt/env"]
    assert run("mlhello").strip() == "mlhello 1.0 from /opt/env"
    assert run("prefixprobe").strip() == "/opt/env"  # a binary prefix placeholder, relocated on the host
    assert run("cat", "/opt/env/etc/prefixprobe.conf").strip() == "prefix=/opt/env"
    assert "No such file" in run("sh", "-c", "ls /usr/bin/python3 2>&1 || true")  # the base has no Python
    assert run("pip", "--version").startswith("pip 24.2 from /opt/env/lib/python3.11/site-packages/pip")
    records = run("ls", "/opt/env/conda-meta").split()
    assert sorted(records) == sorted(["history"] + [f"{p.split('==')[0]}-{p.split('==')[1].replace('=', '-')}.json" for p in built.packages if "==" in p and not p.startswith("six")])


def test_outputs_list_conda_and_pip_packages_and_the_lock(built):
    names = [p.split("==")[0] for p in built.packages]
    assert names[:-1] == sorted(names[:-1]) and names[-1] == "six"  # conda records first, then wheels
    assert {"python", "pip", "mlhello", "prefixprobe", "chain-a", "chain-b", "chain-c", "tinylib"} <= set(names)
    assert "tinylib==2.0=0" in built.packages and "six==1.16.0" in built.packages
    assert len(built.lock_hash) == 64


def test_one_layer_per_package_and_no_host_path_in_any_layer(built, registry, build_cache, conda_channel):
    layers = our_layers(registry, built)
    created = [layer["created_by"] for layer in built.layers]
    assert created[0] == "mlenv: conda environment /opt/env"
    conda_records = [p for p in built.packages if p.count("=") == 3]  # name==version=build
    assert len(conda_records) == 8 and sum(1 for c in created if c.startswith("mlenv: conda install ")) == 8  # one layer each
    forbidden = [str(build_cache).encode(), b"/mlenv-conda-pkgs-", b"/staging/conda-", b"/tmp/pytest-of-"]
    for data in layers:
        for needle in forbidden:
            assert needle not in data, (needle, created)
    metas = {}
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.name.startswith("opt/env/conda-meta/") and member.name.endswith(".json"):
                    metas[member.name] = json.loads(tar.extractfile(member).read())
                assert member.mtime == 0 and member.uid == 0
    assert len(metas) == 8
    for record in metas.values():
        assert not {"extracted_package_dir", "package_tarball_full_path", "link", "requested_spec"} & set(record)
        assert record["url"].startswith(conda_channel.url) and record["files"]


def test_two_empty_caches_give_the_same_digest_and_a_rebuild_is_a_cache_hit(registry, debian_without_python_image, conda_channel, index_settings, tmp_path, monkeypatch, built):
    definition = from_mapping(conda_env(debian_without_python_image, conda_channel.url))
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / "other-cache"))
    again = build(definition, f"{registry.host}/envs/conda-elsewhere", index=index_settings)
    assert again.digest == built.digest and again.lock_hash == built.lock_hash and not again.cache_hit
    hit = build(definition, f"{registry.host}/envs/conda-elsewhere", index=index_settings)
    assert hit.cache_hit and hit.bytes_pushed == 0 and hit.digest == built.digest


def test_one_conda_pin_changed_pushes_only_that_package(registry, debian_without_python_image, conda_channel, index_settings, built):
    changed = [p if not p.startswith("tinylib") else "tinylib=1.0" for p in PACKAGES]
    result = build(from_mapping(conda_env(debian_without_python_image, conda_channel.url, changed)), f"{registry.host}/envs/conda", index=index_settings)
    print(f"\nconda one-pin change: {result.bytes_pushed} bytes pushed, first build {built.bytes_pushed} bytes")
    assert "tinylib==1.0=0" in result.packages and result.digest != built.digest
    assert 0 < result.bytes_pushed < 0.05 * built.bytes_pushed


@pytest.mark.parametrize(("packages", "rule", "words"), [
    (["python=3.11", "needs-glibc"], "conda.glibc-too-old", "needs-glibc 1.0 needs __glibc >=2.99, the base image has glibc 2.36"),
    (["python=3.11", "tinylibb"], "conda.package-not-found", "tinylibb is not in the channels"),
    (["python=3.11", "tinylib>=3"], "conda.package-not-found", "no version of tinylib in the channels matches tinylib >=3 (versions there: 1.0, 2.0)"),
])
def test_unsatisfiable_and_missing_packages_are_one_message_and_nothing_is_tagged(registry, debian_without_python_image, conda_channel, index_settings, packages, rule, words):
    definition = from_mapping(conda_env(debian_without_python_image, conda_channel.url, packages, pip=()))
    with pytest.raises(BuildError) as caught:
        build(definition, f"{registry.host}/envs/conda-bad", index=index_settings)
    assert caught.value.rule == rule and words in caught.value.headline
    if "tinylibb" in packages:
        assert "close names there: tinylib" in caught.value.headline
    assert "Traceback" not in str(caught.value)
    assert tag_for(definition_hash(definition)) not in tags_of(registry, "envs/conda-bad")


def test_unreachable_channel_and_wrong_token_are_one_message_each(registry, debian_without_python_image, conda_channel_token, index_settings, monkeypatch):
    token = conda_channel_token.extra["token"]
    for channel, secret in [("http://127.0.0.1:1/nowhere", None), (f"{conda_channel_token.url}/t/${{CHANNEL_TOKEN}}", "wrong-token-123")]:
        if secret:
            monkeypatch.setenv("CHANNEL_TOKEN", secret)
        definition = from_mapping(conda_env(debian_without_python_image, channel, ["python=3.11", "tinylib"], pip=()))
        with pytest.raises(BuildError) as caught:
            build(definition, f"{registry.host}/envs/conda-channel", index=index_settings)
        assert caught.value.rule == "conda.channel", str(caught.value)
        assert "wrong-token-123" not in str(caught.value) and token not in str(caught.value)
        saved = Path(caught.value.log_path).read_text()
        assert "wrong-token-123" not in saved and token not in saved  # nor in the saved build log
        assert tag_for(definition_hash(definition)) not in tags_of(registry, "envs/conda-channel")
    monkeypatch.setenv("CHANNEL_TOKEN", token)
    good = from_mapping(conda_env(debian_without_python_image, f"{conda_channel_token.url}/t/${{CHANNEL_TOKEN}}", ["python=3.11", "tinylib"], pip=()))
    result = build(good, f"{registry.host}/envs/conda-channel", index=index_settings)
    assert "tinylib==2.0=0" in result.packages
    assert token not in json.dumps(result.outputs())


def test_the_prefix_of_a_built_image_reads_back_as_the_same_environment(built, registry, debian_without_python_image, conda_channel, index_settings, tmp_path):
    """from_existing_conda_environment on the image's own /opt/env (unpacked from our layers) pins
    every package exactly; building that gives the same package set."""
    from mlenv.definition.conda_file import python_match_spec
    from mlenv.definition.conda_prefix import read_existing_environment

    root = tmp_path / "unpacked"
    for data in our_layers(registry, built):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(root, filter="tar")
    from rattler import PrefixRecord

    records = [PrefixRecord.from_path(path) for path in sorted((root / "opt" / "env" / "conda-meta").glob("*.json"))]
    assert sorted(f"{r.name.normalized}=={r.version}={r.build}" for r in records) == sorted(p for p in built.packages if p.count("=") == 3)
    conda = read_existing_environment(str(root / "opt" / "env"))
    channel = conda_channel.url.rstrip("/")
    assert conda.channels == (channel,)
    assert f'tinylib ==2.0 0[channel="{channel}/"]' in conda.packages and len(conda.packages) == 6  # pip and python apart
    assert conda.pip_lines == ("six==1.16.0",)
    mapping = {"image": debian_without_python_image, "conda": {"channels": list(conda.channels),
               "dependencies": [*map(python_match_spec, conda.python_specs), *conda.packages, {"pip": list(conda.pip_lines)}]}}
    again = build(from_mapping(mapping), f"{registry.host}/envs/conda-roundtrip", index=index_settings)
    assert sorted(again.packages) == sorted(built.packages)


def test_a_gpu_environment_solves_on_this_cpu_host_with_conda_override_cuda(registry, debian_without_python_image, conda_channel, index_settings, monkeypatch):
    definition = from_mapping(conda_env(debian_without_python_image, conda_channel.url, ["python=3.11", "needs-cuda"], pip=()))
    monkeypatch.delenv("CONDA_OVERRIDE_CUDA", raising=False)
    with pytest.raises(BuildError) as caught:
        build(definition, f"{registry.host}/envs/conda-gpu", index=index_settings)
    assert "__cuda" in caught.value.headline
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.4")
    result = build(definition, f"{registry.host}/envs/conda-gpu", index=index_settings)
    assert "needs-cuda==1.0=0" in result.packages


def test_a_channel_behind_basic_auth_takes_its_password_from_the_environment(registry, debian_without_python_image, conda_channel_login, index_settings, monkeypatch):
    user, password = conda_channel_login.extra["login"]
    channel = conda_channel_login.url.replace("://", f"://{user}:${{CHANNEL_PASSWORD}}@")
    definition = from_mapping(conda_env(debian_without_python_image, channel, ["python=3.11", "tinylib"], pip=()))
    monkeypatch.setenv("CHANNEL_PASSWORD", password)
    result = build(definition, f"{registry.host}/envs/conda-login", index=index_settings)
    assert "tinylib==2.0=0" in result.packages and password not in json.dumps(result.outputs())
    monkeypatch.setenv("CHANNEL_PASSWORD", "wrong-pw")
    with pytest.raises(BuildError) as caught:
        build(from_mapping(conda_env(debian_without_python_image, channel, ["python=3.11", "chain-c"], pip=())), f"{registry.host}/envs/conda-login", index=index_settings)
    assert caught.value.rule == "conda.channel" and "wrong-pw" not in str(caught.value) and password not in str(caught.value)


def test_docker_steps_then_the_conda_environment_on_top(registry, base_image, conda_channel, index_settings, docker_engine):
    """The engine runs the steps on the base; the conda environment (and pip) is added daemonlessly,
    so it is the same layers as without steps, and `verify` runs on the final image."""
    mapping = {**conda_env(base_image, conda_channel.url, ["python=3.11", "mlhello", "tinylib=2.0"]),
               "docker": {"steps": ["RUN echo from-a-step > /etc/mlenv-step"]}, "verify": ["mlhello"]}
    result = build(from_mapping(mapping), f"{registry.host}/envs/conda-steps", index=index_settings)
    without_steps = build(from_mapping(conda_env(base_image, conda_channel.url, ["python=3.11", "mlhello", "tinylib=2.0"])),
                          f"{registry.host}/envs/conda-steps-plain", index=index_settings)
    conda_layers = lambda r: [layer["digest"] for layer in r.layers if layer["created_by"].startswith("mlenv: conda")]  # noqa: E731
    assert conda_layers(result) == conda_layers(without_steps) and conda_layers(result)
    docker_engine.images.pull(result.image_ref)
    output = docker_engine.containers.run(result.image_ref, ["sh", "-c", "cat /etc/mlenv-step; mlhello; python -c 'import six; print(six.__version__)'"], remove=True)
    assert output.decode().split("\n")[:3] == ["from-a-step", "mlhello 1.0 from /opt/env", "1.16.0"]
    assert "tinylib==2.0=0" in result.packages and "six==1.16.0" in result.packages
