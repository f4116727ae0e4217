"""The Docker builder through the provider process, as `pulumi up` drives it: a real dockerd builds,
our registry client publishes to a real registry, and the images run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from mlenv.provider import EnvironmentProvider
from testbed import services
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"
INDEX_USER, INDEX_PASSWORD = "reader", "index-s3cret-9f2"


@pytest.fixture(scope="module")
def engine(index, build_cache, docker_engine):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield process


@pytest.fixture
def stack(engine):
    return Stack(engine, type_token=TYPE)


def blobs_in(registry) -> int:
    return sum(1 for _ in (registry.root / "docker" / "registry" / "v2" / "blobs").rglob("data"))


def engine_builds(docker_engine, definition_hash: str) -> set[tuple[str, int]]:
    """Every image the engine built for this definition (id and creation time): a new build adds one.
    Filtered by the definition's own hash, so images other tests build or pull on the shared engine
    do not count."""
    return {(image.id, image.attrs["Created"]) for image in docker_engine.images.list(filters={"label": f"dev.mlenv.definition-hash={definition_hash}"})}


def run(docker_engine, image_ref: str, *command: str) -> str:
    docker_engine.images.pull(image_ref)
    return docker_engine.containers.run(image_ref, list(command), remove=True).decode().strip()


def tags(registry, repository: str) -> list[str]:
    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return [] if response.status_code == 404 else response.json().get("tags") or []


def write_context(root: Path, base_image: str, message: str, ignored: str) -> Path:
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(f"FROM {base_image}\nCOPY app/ /app/\nENV PYTHONPATH=/app\n")
    (root / ".dockerignore").write_text("**/*.log\n")
    (root / "app" / "greeting.py").write_text(f"MESSAGE = {message!r}\n")
    (root / "app" / "debug.log").write_text(ignored)
    return root


def test_build_context_dockerignore_decides_what_rebuilds(stack, registry, base_image, docker_engine, tmp_path):
    repository = f"{registry.host}/envs/context"
    context = write_context(tmp_path / "ctx", base_image, "hello", "first run\n")
    inputs = {"repository": repository, "build": {"path": str(context)}}
    provider = EnvironmentProvider()
    created = stack.up("ctx", provider, inputs)
    assert created.op == "create" and not created.outputs["cache_hit"], created.error
    assert run(docker_engine, created.outputs["image_ref"], "python3", "-c", "import greeting; print(greeting.MESSAGE)") == "hello"

    built = lambda: engine_builds(docker_engine, created.outputs["definition_hash"])  # noqa: E731
    builds, blobs = built(), blobs_in(registry)
    write_context(context, base_image, "hello", "an ignored file changed\n")
    ignored = stack.up("ctx", provider, inputs)
    assert ignored.op == "same", {k: (ignored.checked_inputs.get(k), created.outputs.get(k)) for k in set(ignored.checked_inputs) | set(created.outputs) if ignored.checked_inputs.get(k) != created.outputs.get(k)}
    assert built() == builds and blobs_in(registry) == blobs  # no build, no upload

    write_context(context, base_image, "hello again", "an ignored file changed\n")
    kept = stack.up("ctx", provider, inputs)
    assert kept.op == "update" and kept.outputs["digest"] != created.outputs["digest"]
    assert run(docker_engine, kept.outputs["image_ref"], "python3", "-c", "import greeting; print(greeting.MESSAGE)") == "hello again"
    manifest = httpx.get(f"{registry.url}/v2/envs/context/manifests/{kept.outputs['digest']}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert manifest["annotations"]["dev.mlenv.definition-hash"] == kept.outputs["definition_hash"]
    base = httpx.get(f"{registry.url}/v2/base/python/manifests/3.11-bookworm", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert [layer["digest"] for layer in manifest["layers"][:len(base["layers"])]] == [layer["digest"] for layer in base["layers"]]  # base reused


def test_dockerfile_text_with_verify(stack, registry, base_image, docker_engine):
    dockerfile = f"FROM {base_image}\nRUN echo from-dockerfile > /etc/mlenv-hello\n"
    result = stack.up("text", EnvironmentProvider(), {"repository": f"{registry.host}/envs/text", "dockerfile": dockerfile,
                                                       "verify": ["grep -q from-dockerfile /etc/mlenv-hello"], "variables": {"STAGE": "text"}})
    assert result.op == "create", result.error
    assert run(docker_engine, result.outputs["image_ref"], "sh", "-c", "cat /etc/mlenv-hello; echo $STAGE") == "from-dockerfile\ntext"


def test_base_image_pip_and_a_docker_step(stack, registry, base_image, docker_engine):
    inputs = {"repository": f"{registry.host}/envs/steps", "image": base_image, "pip": ["six==1.16.0"], "variables": {"OMP_NUM_THREADS": "2"},
              "docker": {"steps": ["RUN echo system-step > /etc/mlenv-step"]}, "verify": ["python -c 'import six'"]}
    provider = EnvironmentProvider()
    result = stack.up("steps", provider, inputs)
    assert result.op == "create", result.error
    assert result.outputs["packages"] == ["pip==24.3.1", "six==1.16.0"]  # the venv's pip locked, as the daemonless builder does
    script = "import os, six, sys; print(six.__version__, sys.prefix, os.environ['OMP_NUM_THREADS'], open('/etc/mlenv-step').read().strip())"
    assert run(docker_engine, result.outputs["image_ref"], "python", "-c", script) == "1.16.0 /opt/env 2 system-step"
    builds, blobs = engine_builds(docker_engine, result.outputs["definition_hash"]), blobs_in(registry)
    again = stack.up("steps-twin", provider, inputs)  # another resource, same definition
    assert again.outputs["cache_hit"] and again.outputs["bytes_pushed"] == 0
    assert engine_builds(docker_engine, result.outputs["definition_hash"]) == builds and blobs_in(registry) == blobs


def test_bring_your_own_container_installs_nothing(stack, registry, base_image, docker_engine):
    result = stack.up("byoc", EnvironmentProvider(), {"repository": f"{registry.host}/envs/byoc", "image": base_image,
                                                       "python": {"user_managed_dependencies": True}, "variables": {"MODE": "byoc"}})
    assert result.op == "create", result.error
    assert result.outputs["packages"] == [] and result.outputs["bytes_pushed"] < 10_000  # config and manifest only
    assert run(docker_engine, result.outputs["image_ref"], "sh", "-c", "echo $MODE; command -v python3; test ! -e /opt/env && echo no-venv") == "byoc\n/usr/bin/python3\nno-venv"


def test_a_failing_docker_step_tags_nothing_and_names_the_step(stack, engine, registry, base_image):
    result = stack.up("broken", EnvironmentProvider(), {"repository": f"{registry.host}/envs/broken", "image": base_image,
                                                         "docker": {"steps": ["RUN echo fine", "RUN ls /no/such/dir"]}})
    assert result.op == "failed" and "Traceback" not in result.error
    assert "docker build (step 3/3: RUN ls /no/such/dir): the step /bin/sh -c ls /no/such/dir exited with code 2. Fix:" in result.error
    assert "diagnosis: docker.run-failed" in result.error and "Fix:" in result.error
    assert tags(registry, "envs/broken") == []
    assert re.search(r"^mlenv: #\d+ \[2/3\] RUN echo fine$", engine.stderr, re.MULTILINE)  # progress streamed as the build runs


def test_a_failing_verify_tags_nothing_and_says_which_command(stack, registry, base_image):
    result = stack.up("unverified", EnvironmentProvider(), {"repository": f"{registry.host}/envs/unverified", "image": base_image,
                                                             "pip": ["six==1.16.0"], "verify": ["python -c 'import six'", "python -c 'import numpy'"]})
    assert result.op == "failed"
    assert "verify[1]: `python -c 'import numpy'` failed in the built image (exit 1)" in result.error
    assert "ModuleNotFoundError" in result.error and "diagnosis: docker.verify-failed" in result.error
    assert tags(registry, "envs/unverified") == []


@pytest.fixture(scope="module")
def private_index(wheelhouse, tmp_path_factory):
    server = services.start_pypiserver(wheelhouse, tmp_path_factory.mktemp("private-index"), htpasswd=(INDEX_USER, INDEX_PASSWORD))
    yield server
    server.stop()


def test_index_credentials_reach_the_build_as_a_secret_only(registry, base_image, docker_engine, private_index, build_cache):
    url = private_index.url.replace("http://", f"http://{INDEX_USER}:{INDEX_PASSWORD}@")
    dockerfile = (f"FROM {base_image}\n"
                  "RUN --mount=type=secret,id=mlenv-pip-conf,target=/etc/pip.conf python3 -m venv /opt/app && /opt/app/bin/pip install --no-cache-dir six==1.16.0\n")
    with ProviderProcess(env={"MLENV_INDEX_URL": url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        result = Stack(process, type_token=TYPE).up("private", EnvironmentProvider(), {"repository": f"{registry.host}/envs/private", "dockerfile": dockerfile})
    assert result.op == "create", result.error
    assert run(docker_engine, result.outputs["image_ref"], "/opt/app/bin/python", "-c", "import six; print(six.__version__)") == "1.16.0"
    image = docker_engine.images.get(result.outputs["image_ref"])
    history = json.dumps(image.history())
    assert INDEX_PASSWORD not in history and INDEX_PASSWORD not in json.dumps(image.attrs)
    layers = docker_engine.containers.run(result.outputs["image_ref"], ["sh", "-c", "cat /etc/pip.conf 2>/dev/null; grep -rl index-s3cret /etc /opt 2>/dev/null; true"], remove=True)
    assert INDEX_PASSWORD.encode() not in layers


def test_daemonless_build_is_verified_in_the_engine_before_tagging(stack, registry, base_image):
    inputs = lambda *verify: {"repository": f"{registry.host}/envs/verified-oci", "image": base_image, "pip": ["six==1.16.0"], "verify": list(verify)}  # noqa: E731
    failed = stack.up("oci-bad", EnvironmentProvider(), inputs("python -c 'import six, tqdm'"))
    assert failed.op == "failed" and "verify[0]: `python -c 'import six, tqdm'` failed in the built image (exit 1)" in failed.error
    assert tags(registry, "envs/verified-oci") == []
    passed = stack.up("oci-good", EnvironmentProvider(), inputs("python -c 'import six; assert six.__version__ == \"1.16.0\"'"))
    assert passed.op == "create" and passed.outputs["tag"] in tags(registry, "envs/verified-oci")


def test_a_dockerfile_from_an_image_without_registry_host_is_left_to_the_engine(stack, registry):
    """`FROM name:tag` means Docker Hub to the engine; mlenv does not refuse it before the engine tries
    (here Docker Hub is unreachable, and the engine's failure is diagnosed)."""
    result = stack.up("hub", EnvironmentProvider(), {"repository": f"{registry.host}/envs/hub", "dockerfile": "FROM mlenv-fixture/absent:1\n"})
    assert result.op == "failed" and "Traceback" not in result.error
    assert "diagnosis: image.no-registry-host" in result.error, result.error
    assert tags(registry, "envs/hub") == []
