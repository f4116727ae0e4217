"""The built image runs: a real Docker engine pulls it from the local registry and imports the packages."""

import pytest

from mlenv.pipeline import build
from mlenv.definition.load import from_mapping

pytestmark = pytest.mark.integration


def test_image_runs_numpy_requests_and_console_scripts(registry, base_image, index_settings, docker_engine):
    definition = from_mapping({"image": base_image, "pip": ["numpy==1.26.4", "requests", "tqdm"], "variables": {"OMP_NUM_THREADS": "1"}})
    result = build(definition, f"{registry.host}/envs/runnable", index=index_settings)
    docker_engine.images.pull(result.image_ref)
    script = "import os, sys, numpy, requests; print(numpy.__version__, requests.__version__, sys.prefix, os.environ['OMP_NUM_THREADS'])"
    output = docker_engine.containers.run(result.image_ref, ["python", "-c", script], remove=True).decode().split()
    assert output[0] == "1.26.4"
    assert f"requests=={output[1]}" in result.packages
    assert output[2:] == ["/opt/env", "1"]
    tqdm_version = docker_engine.containers.run(result.image_ref, ["tqdm", "--version"], remove=True).decode().strip()
    assert f"tqdm=={tqdm_version}" in result.packages
