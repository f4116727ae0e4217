"""An image to build on (issue 12, item 14): the daemonless venv has pip and bin/activate, so a real
Docker engine can build `FROM` it and `pip install` from the local index; its bytecode is used on a
read-only root file system."""

import io

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration


def run(docker_engine, image, command, **options) -> str:
    return docker_engine.containers.run(image, command, remove=True, **options).decode().strip()


def test_from_the_image_pip_install_works_and_activate_sets_path(registry, base_image, index, index_settings, docker_engine):
    result = build(from_mapping({"image": base_image, "pip": ["requests"]}), f"{registry.host}/envs/buildable", index=index_settings)
    assert "pip==24.3.1" in result.packages  # the newest pip of the index, locked like any wheel
    docker_engine.images.pull(result.image_ref)
    dockerfile = f"FROM {result.image_ref}\nRUN pip install --no-cache-dir --index-url {index.url} six==1.17.0\n"
    child, _ = docker_engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), network_mode="host", rm=True, forcerm=True)
    try:
        assert run(docker_engine, child.id, ["python", "-c", "import six; print(six.__version__, six.__file__)"]) == \
            "1.17.0 /opt/env/lib/python3.11/site-packages/six.py"
        path = run(docker_engine, child.id, ["sh", "-c", "PATH=/usr/bin:/bin; . /opt/env/bin/activate; echo $PATH $VIRTUAL_ENV; command -v pip"])
        assert path.split() == ["/opt/env/bin:/usr/bin:/bin", "/opt/env", "/opt/env/bin/pip"]
    finally:
        docker_engine.images.remove(child.id, force=True)


def test_the_bytecode_is_used_on_a_read_only_root(registry, base_image, index_settings, docker_engine):
    result = build(from_mapping({"image": base_image, "pip": ["requests"]}), f"{registry.host}/envs/buildable", index=index_settings)
    docker_engine.images.pull(result.image_ref)
    script = ("import sys, requests, importlib.util as u; "
              "print(sys.flags.dont_write_bytecode, requests.__cached__, open(requests.__cached__, 'rb').read(8)[4])")
    shown = run(docker_engine, result.image_ref, ["python", "-c", script], read_only=True).split()
    assert shown == ["0", "/opt/env/lib/python3.11/site-packages/requests/__pycache__/__init__.cpython-311.pyc", "1"]  # unchecked-hash


def test_python_pip_false_leaves_pip_out(registry, base_image, index_settings, docker_engine):
    result = build(from_mapping({"image": base_image, "pip": ["six==1.16.0"], "python": {"pip": False}}), f"{registry.host}/envs/nopip",
                   index=index_settings)
    assert result.packages == ["six==1.16.0"]
    docker_engine.images.pull(result.image_ref)
    assert run(docker_engine, result.image_ref, ["sh", "-c", "ls /opt/env/bin"]).split() == ["activate", "activate.csh", "activate.fish",
                                                                                          "python", "python3", "python3.11"]
