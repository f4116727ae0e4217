"""Issue 13: a no-op `mlenv build` (the image for the hash is there) imports neither Pulumi nor the build
stack, and speaks plain HTTP to a loopback registry without reading a CA bundle for a TLS context. The import set is
asserted, never a time (bench/noop.py prints the times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

# Nothing a cache hit needs: the SDK's engine, the builders and installers, the resolve stage, layer
# packing and publishing, the Docker SDK, the diagnosis catalogue.
NEVER = ("pulumi", "grpc", "mlenv.builders", "mlenv.resolve", "mlenv.oci.layers", "mlenv.oci.publish", "mlenv.oci.base_image",
         "mlenv.oci.mirrors", "mlenv.diagnostics.diagnose", "uv", "docker", "deepdiff", "zstandard.stream")
PIP_ONLY = ("rattler", "mlenv.definition.conda_file", "mlenv.definition.build_context", "mlenv.definition.mlflow",
            "mlenv.definition.curated_asset", "mlenv.definition.bare_files")

# Runs the CLI in this process, then reports what it imported and how often a CA bundle was read (the
# cost of a verifying TLS context; a plain-HTTP transport's bare context reads none).
PROBE = """
import json, ssl, sys
loaded = []
original = ssl.SSLContext.load_verify_locations
ssl.SSLContext.load_verify_locations = lambda self, *a, **k: loaded.append(1) or original(self, *a, **k)
from mlenv.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules), "ca_bundles": len(loaded)}), file=sys.stderr)
"""


def _noop_run(tmp_path, definition: dict, repository: str) -> dict:
    env_file = tmp_path / "env.yml"
    env_file.write_text(json.dumps(definition))  # JSON is YAML
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MLENV_INDEX_URL", "PIP_INDEX_URL", "UV_INDEX_URL"))}
    done = subprocess.run([sys.executable, "-c", PROBE, "build", str(env_file), "--registry", repository],
                          capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0 and "cache hit" in done.stdout, done.stdout + done.stderr
    return report


def _imported(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


@pytest.fixture(scope="module")
def pip_definition(base_image) -> dict:
    return {"image": base_image, "pip": ["six==1.16.0"], "variables": {"OMP_NUM_THREADS": "1"}}


def test_a_pip_noop_imports_no_build_stack_and_reads_no_ca_bundle(tmp_path, registry, pip_definition, index_settings):
    repository = f"{registry.host}/noop/pip"
    assert not build(from_mapping(pip_definition), repository, index=index_settings).cache_hit
    report = _noop_run(tmp_path, pip_definition, repository)
    assert _imported(report["modules"], NEVER + PIP_ONLY) == []
    assert "mlenv.oci.registry" in report["modules"]  # it did ask the registry
    assert report["ca_bundles"] == 0


def test_a_conda_noop_imports_rattler_for_its_specs_but_no_build_stack(tmp_path, registry, debian_without_python_image, conda_channel, index_settings):
    definition = {"image": debian_without_python_image, "conda": {"channels": [conda_channel.url], "dependencies": ["python=3.11", "tinylib=2.0"]}}
    repository = f"{registry.host}/noop/conda"
    assert not build(from_mapping(definition), repository, index=index_settings).cache_hit
    report = _noop_run(tmp_path, definition, repository)
    assert _imported(report["modules"], NEVER) == []
    assert "rattler" in report["modules"]  # the conda specs are read (and hashed) in rattler's canonical form
    assert report["ca_bundles"] == 0


def test_the_probe_sees_a_ca_bundle_read_for_https(tmp_path):
    """The probe's count is not always 0: an HTTPS registry (here one that does not answer) reads it."""
    env_file = tmp_path / "env.yml"
    env_file.write_text("image: registry.example/base/python@sha256:" + "c" * 64 + "\npip: [six==1.16.0]\n")
    done = subprocess.run([sys.executable, "-c", PROBE, "build", str(env_file), "--registry", "localhost.invalid:1/noop/x"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 2 and report["ca_bundles"] >= 1, done.stderr
