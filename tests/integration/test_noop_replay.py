"""Issue 13's no-op: the same `mlenv build` run again, with nothing it depended on changed, replays
the last cache hit's output (replay.py) without loading the definition or importing the build
stack; any change it depended on sends it down the full path, which prints the same as a full run
would. Each run is a real `mlenv build` process against the session's registry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.catalogue import reads
from mlenv.definition.load import from_mapping
from mlenv.oci.registry import RegistryStore
from mlenv.pipeline import build

# The CLI in this process; then what it imported, on the last line of standard error.
PROBE = """
import json, sys
from mlenv.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "full": "mlenv.pipeline" in sys.modules, "httpx": "httpx" in sys.modules,
                  "http.client": "http.client" in sys.modules, "definition": any(m.startswith("mlenv.definition") for m in sys.modules)}),
      file=sys.stderr)
"""
TIME = re.compile(r"in \d+\.\d\ds$|\"seconds\": [0-9.]+", re.MULTILINE)


def _run(definition: Path, repository: str, *options: str, environment: dict | None = None, expect: int = 0) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, "build", str(definition), "--registry", repository, *options],
                          capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL)
    *printed, last = done.stderr.splitlines() or [""]
    report = json.loads(last)
    assert report["code"] == expect, done.stdout + done.stderr
    return {**report, "stdout": TIME.sub("<time>", done.stdout), "stderr": printed}


@pytest.fixture
def built(tmp_path, registry, base_image, index_settings):
    """A definition whose image is in its own repository: (file, repository)."""
    definition = {"image": base_image, "pip": ["six==1.16.0"], "variables": {"REPLAY": tmp_path.name}}  # one hash per test
    repository = f"{registry.host}/replay/{tmp_path.name.lower().replace('_', '-')[:40]}"
    assert not build(from_mapping(definition), repository, index=index_settings).cache_hit
    path = tmp_path / "project" / "env.yml"
    path.parent.mkdir()
    path.write_text(json.dumps(definition))  # JSON is YAML
    return path, repository


def test_the_second_cache_hit_is_replayed_with_the_same_output(built):
    path, repository = built
    first, second, third = (_run(path, repository) for _ in range(3))
    assert first["full"] and not second["full"] and not third["full"]
    assert not second["httpx"] and not second["http.client"]  # a loopback registry is read over a plain socket
    assert first["definition"] and not second["definition"]  # the replay loads no definition
    assert second["stdout"] == first["stdout"] and second["stderr"] == first["stderr"]
    assert "cache hit, nothing built or pushed <time>" in second["stdout"] and "registered anon-" in second["stdout"]


def test_json_output_is_replayed_too(built):
    path, repository = built
    first, second = (_run(path, repository, "--json") for _ in range(2))
    assert first["full"] and not second["full"]
    assert json.loads(second["stdout"].replace("<time>", '"seconds": 0')) == json.loads(first["stdout"].replace("<time>", '"seconds": 0'))


def test_another_command_or_setting_is_a_full_run(built, base_image):
    path, repository = built
    assert _run(path, repository)["full"]
    assert _run(path, repository, "--json")["full"]  # other arguments: another memo
    assert _run(path, repository, environment={**os.environ, "MLENV_BASE_IMAGE": base_image})["full"]  # another MLENV_ setting
    assert not _run(path, repository)["full"]


def test_an_edited_definition_is_a_full_run(built):
    path, repository = built
    first, _ = _run(path, repository), _run(path, repository)
    path.write_text(path.read_text() + "\n# the same definition, another file\n")
    edited = _run(path, repository)
    assert edited["full"] and edited["stdout"] == first["stdout"]
    assert not _run(path, repository)["full"]


def test_a_file_added_beside_the_definition_is_a_full_run(built):
    """A loader may look for a file beside the definition (a v1 folder's conda file, say): a new
    file there changes the folder, so the replay does not hold."""
    path, repository = built
    _run(path, repository), _run(path, repository)
    (path.parent / "conda_dependencies.yaml").write_text("dependencies: [python=3.11]\n")
    assert _run(path, repository)["full"]


def test_a_label_set_since_is_a_full_run_that_prints_it(built):
    path, repository = built
    before = _run(path, repository)
    name = re.search(r"registered (anon-[0-9a-f]{12}):1", before["stdout"])[1]
    store = RegistryStore(*repository.split("/", 1))
    try:
        reads.set_label(store, name, "1", "prod")
    finally:
        store.close()
    after = _run(path, repository)
    assert after["full"] and f"registered {name}:1 (prod, latest)" in after["stdout"]
    again = _run(path, repository)
    assert not again["full"] and again["stdout"] == after["stdout"]


def test_a_layout_target_is_replayed(tmp_path, base_image, index_settings):
    definition = {"image": base_image, "pip": ["six==1.16.0"]}
    layout = f"oci:{tmp_path / 'images'}"
    build(from_mapping(definition), layout, index=index_settings)
    path = tmp_path / "env.yml"
    path.write_text(json.dumps(definition))
    first, second = _run(path, layout), _run(path, layout)
    assert first["full"] and not second["full"] and second["stdout"] == first["stdout"]
    assert "for skopeo, podman: oci:" in second["stdout"]


def test_a_registry_that_asks_for_a_login_is_replayed_through_its_login_and_no_password_is_kept(tmp_path, auth_registry, base_image, index_settings, build_cache):
    from mlenv.oci.auth import Credentials

    password = "s3cret-pass"  # the auth_registry fixture's login
    definition = {"image": base_image, "pip": ["six==1.16.0"], "variables": {"REPLAY": "login"}}
    repository = f"{auth_registry.host}/replay/login"
    build(from_mapping(definition), repository, Credentials("builder", password), index=index_settings)
    path = tmp_path / "env.yml"
    path.write_text(json.dumps(definition))
    environment = {**os.environ, "MLENV_REGISTRY_USERNAME": "builder", "MLENV_REGISTRY_PASSWORD": password}
    first, second = _run(path, repository, environment=environment), _run(path, repository, environment=environment)
    assert first["full"] and not second["full"] and second["httpx"] and second["stdout"] == first["stdout"]
    wrong = {**environment, "MLENV_REGISTRY_PASSWORD": "wrong"}  # the same memo (no password is in its key), refused
    assert _run(path, repository, environment=wrong, expect=2)["full"]  # the full path says why
    memos = list((build_cache / "replay").glob("*.json"))  # $MLENV_CACHE_DIR/replay/, as ~/.cache/mlenv/replay/ by default
    assert memos and not any(password in memo.read_text() for memo in memos)
