"""Layer packing end to end: the worker count never shows in the image, and `compression: zstd`
images are pushed to the real registry, pulled and run by the real Docker engine."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import zstandard

from mlenv.definition.load import from_mapping
from mlenv.digests import file_digest
from mlenv.identity.hashing import definition_hash
from mlenv.oci.mediatypes import OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST
from mlenv.pipeline import build

pytestmark = pytest.mark.integration
PIP = ["numpy==1.26.4", "requests", "tqdm"]


def _manifest(registry, repository, tag):
    return httpx.get(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}).json()


def test_one_or_four_pack_workers_give_the_same_image(registry, base_image, index_settings, tmp_path, monkeypatch):
    definition = from_mapping({"image": base_image, "pip": PIP})
    digests = []
    for workers in ("1", "4"):
        monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / f"cache-{workers}"))
        monkeypatch.setenv("MLENV_PACK_WORKERS", workers)
        result = build(definition, f"{registry.host}/envs/workers-{workers}", index=index_settings)
        assert not result.cache_hit
        digests.append(result.digest)
    assert digests[0] == digests[1]


def test_a_zstd_image_is_pulled_and_run_by_docker(registry, base_image, index_settings, docker_engine, tmp_path):
    plain = from_mapping({"image": base_image, "pip": PIP})
    zstd = from_mapping({"image": base_image, "pip": PIP, "compression": "zstd", "verify": ["python -c 'import numpy, tqdm'"]})  # loads it into Docker
    assert definition_hash(zstd) != definition_hash(plain)
    assert definition_hash(from_mapping({"image": base_image, "pip": PIP, "compression": "gzip"})) == definition_hash(plain)
    result = build(zstd, f"{registry.host}/envs/zstd", index=index_settings)
    layers = _manifest(registry, "envs/zstd", result.tag)["layers"]
    base_count = len(_manifest(registry, "base/python", "3.11-bookworm")["layers"])
    assert {layer["mediaType"] for layer in layers[:base_count]} == {OCI_LAYER_GZIP}  # the base's layers as they are
    assert {layer["mediaType"] for layer in layers[base_count:]} == {OCI_LAYER_ZSTD}
    image = _into_docker(result.image_ref, docker_engine, tmp_path)
    script = "import numpy, requests; print(numpy.__version__)"
    assert docker_engine.containers.run(image, ["python", "-c", script], remove=True).decode().strip() == "1.26.4"
    tqdm_version = docker_engine.containers.run(image, ["tqdm", "--version"], remove=True).decode().strip()
    assert f"tqdm=={tqdm_version}" in result.packages


def _into_docker(image_ref: str, docker_engine, tmp_path: Path) -> str:
    """The image in the engine. Docker 23+ pulls zstd layers itself. Debian's dockerd 20.10 cannot
    (it takes a zstd layer for a plain tar: "unexpected EOF"), nor can skopeo 1.9 hand it one (it
    refuses zstd in a Docker manifest); so there skopeo copies the image from the registry into an
    OCI layout (checking every blob's digest), each zstd layer is read back and must give its config
    diff_id, and the plain tars are loaded into the engine."""
    if int(docker_engine.version()["Version"].split(".")[0]) >= 23:
        docker_engine.images.pull(image_ref)
        return image_ref
    from mlenv.builders.docker.saved_image import load_image

    layout = tmp_path / "layout"
    done = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{image_ref}", f"oci:{layout}:copy"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    blob = lambda digest: layout / "blobs" / "sha256" / digest.split(":")[1]  # noqa: E731
    manifest = json.loads(blob(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]).read_bytes())
    config = blob(manifest["config"]["digest"]).read_bytes()
    plain = []
    for index, (layer, diff_id) in enumerate(zip(manifest["layers"], json.loads(config)["rootfs"]["diff_ids"])):
        target = tmp_path / f"{index}.tar"
        opener = zstandard.open if layer["mediaType"] == OCI_LAYER_ZSTD else gzip.open
        with opener(blob(layer["digest"]), "rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
        assert file_digest(target) == diff_id
        plain.append(target)
    return load_image(docker_engine, config, plain, "mlenv-zstd:" + manifest["config"]["digest"][7:19])
