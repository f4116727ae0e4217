"""Requirements-file features through the real pipeline: private wheels, constraints, --hash pins,
against the local index and registry."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from mlenv.diagnostics.errors import BuildError
from mlenv.pipeline import build
from mlenv.definition.load import from_mapping
from testbed.wheelmaker import make_wheel

pytestmark = pytest.mark.integration


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_private_wheel_constraints_and_hashes_build(tmp_path, registry, base_image, index_settings, wheelhouse):
    (tmp_path / "wheels").mkdir()
    wheel = make_wheel(tmp_path / "wheels", "acme_features", "0.3.1", {"acme_features/__init__.py": "VERSION = '0.3.1'\n"})
    (tmp_path / "constraints.txt").write_text("six<1.17\n")
    tqdm = next(wheelhouse.glob("tqdm-4.66.5-*.whl"))
    (tmp_path / "requirements.txt").write_text(
        "-c constraints.txt\n"
        "six\n"
        f"tqdm==4.66.5 --hash=sha256:{sha256_of(tqdm)}\n"
        f"./wheels/{wheel.name}\n")
    spec = from_mapping({"image": base_image, "pip": "requirements.txt"}, base_dir=tmp_path)
    result = build(spec, f"{registry.host}/envs/private-wheel", index=index_settings)
    assert result.packages == ["acme-features==0.3.1", "pip==24.3.1", "six==1.16.0", "tqdm==4.66.5"]
    manifest = httpx.get(f"{registry.url}/v2/envs/private-wheel/manifests/{result.digest}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert json.loads(manifest["annotations"]["dev.mlenv.packages"]) == result.packages


def test_a_hash_the_index_does_not_serve_fails_and_tags_nothing(tmp_path, registry, base_image, index_settings):
    (tmp_path / "requirements.txt").write_text("six==1.16.0 --hash=sha256:" + "0" * 64 + "\n")
    spec = from_mapping({"image": base_image, "pip": "requirements.txt"}, base_dir=tmp_path)
    with pytest.raises(BuildError) as caught:
        build(spec, f"{registry.host}/envs/bad-hash", index=index_settings)
    assert caught.value.rule == "resolution.hash-mismatch"
    assert caught.value.where == "pip.six" and "no file of six on the index matches its --hash values" in caught.value.problem
    assert httpx.get(f"{registry.url}/v2/envs/bad-hash/tags/list").status_code == 404
