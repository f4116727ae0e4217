"""The corpus (issue 11): fixtures of our own in the exact shape of real environment definitions from
public repositories (tests/fixtures/real/PROVENANCE.md names each one). Every one validates or fails
with a clear SpecError naming the field and the fix, hashes the same way, and raises nothing else;
those whose packages the local index holds are built on the Debian base image and their main package
imported in a container; conda files that need conda-forge fail with the unreachable-channel
explanation. `pytest -s` prints the figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.diagnostics.errors import BuildError, SpecError
from tests.paths import FIXTURES

REAL = FIXTURES / "real"
BASE = "registry.example/base/python@sha256:" + "c" * 64
RESULTS: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class Case:
    target: str            # relative to tests/fixtures/real: the file or folder a user passes to mlenv
    refused: str = ""      # "": validates clean; else the SpecError's field and problem, as expected
    builds: str = ""       # the module to import in the built image ("" when its packages are not on the local index)
    conda_forge: bool = False  # solving needs conda-forge (unreachable here)

    @property
    def name(self) -> str:
        return self.target.rstrip("/")


CASES = [
    Case("azureml-asset/conda-templates/"),
    Case("azureml-asset/requirements-regex-tag/"),
    Case("azureml-v1/asset-id-odd-conda-name/"),  # saved from a curated environment: its AzureML- name is a warning
    Case("azureml-v1/autosave-json-only/"),
    Case("azureml-v1/docker-disabled-shm/"),
    Case("azureml-v2/batch-latest-tag/environment.yml"),
    Case("azureml-v2/mlflow-deploy-conda-yaml/environment.yml"),
    Case("azureml-v2/private-acr-inference/environment.yml"),
    Case("conda/asset-templates-conda-tilde/conda_dependencies.yaml", refused="{{latest-pypi-version}}"),
    Case("conda/asset-templates-spaced-specifier/conda_dependencies.yaml", refused="{{latest-pypi-version}}"),
    Case("conda/batch-all-unpinned/conda.yml"),
    Case("conda/batch-old-python/conda.yml"),
    Case("conda/comments-and-direct-wheel/conda.yml"),
    Case("conda/conda-channel-packages-flush-list/conda.yml", conda_forge=True),
    Case("conda/conda-packages-double-equals/conda.yml", conda_forge=True),
    Case("conda/conda-packages-pinned/conda.yml", conda_forge=True),
    Case("conda/explicit-list-named-yml/environment.yml", refused="is a conda package list"),
    Case("conda/from-history-with-prefix/environment.yml", conda_forge=True),
    Case("conda/mlflow-logged-conda/conda.yaml"),
    Case("conda/no-channels-trailing-space/conda.yml", builds="idna"),
    Case("conda/no-name-no-channels/conda.yml"),
    Case("conda/parallel-unpinned-mix/conda.yml"),
    Case("conda/pip-listed-twice/conda.yml", conda_forge=True),
    Case("conda/pip-section-without-pip/conda.yml", builds="six"),
    Case("conda/pip-upper-bound-patch-python/conda.yml"),
    Case("conda/prerelease-pins/conda.yml"),
    Case("conda/pydata-pinned-pip/conda.yml"),
    Case("conda/serving-pip-upper-bound/conda.yml"),
    Case("conda/tilde-pins-two-extras/conda.yml"),
    Case("conda/windows-export-build-strings/environment.yml", conda_forge=True),
    Case("conda/windows-path-name-pip-tail/environment.yml", conda_forge=True),
    Case("mlflow/automl-conda-string-env/", refused="numpy is listed twice"),
    Case("mlflow/env-dict-conda-and-virtualenv/", builds="idna"),
    Case("mlflow/python-env-alone/python_env.yaml", builds="tqdm"),
    Case("mlflow/python-env-alone/"),  # the folder holding it, without MLmodel
    Case("requirements/long-pin-list-with-pip/requirements.txt"),
    Case("requirements/mlflow-pins-no-newline/requirements.txt", builds="requests"),
    Case("requirements/per-line-index-url/requirements.txt", refused="option --index-url cannot follow a requirement"),
    Case("requirements/templated-duplicate-lines/requirements.txt", refused="{{latest-pypi-version}}"),
    Case("requirements/three-exact-pins/requirements.txt", builds="six"),
    Case("requirements/tilde-and-unpinned/requirements.txt", builds="requests"),
]
IDS = [case.name for case in CASES]


def load(case: Case, image: str = BASE):
    """As the CLI loads it: the file or folder, with `image` as the base of one that names none."""
    from mlenv.definition.load import with_base_image
    from mlenv.definition.sources import load_source

    return with_base_image(load_source(REAL / case.target), image)


def test_the_corpus_is_complete():
    """Every fixture folder is a case, and there are at least 40 (issue 11)."""
    folders = {f"{kind.name}/{fixture.name}" for kind in REAL.iterdir() if kind.is_dir() for fixture in kind.iterdir()}
    assert folders == {"/".join(case.target.split("/")[:2]) for case in CASES}
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_validates_and_hashes_or_says_why(case):
    """validate and hash agree: both accept it (same hash every time) or both refuse it with one SpecError."""
    from mlenv.definition.rules import findings
    from mlenv.identity.hashing import definition_hash

    try:
        spec = load(case)
        errors = findings(spec).errors
    except SpecError as error:
        errors = [error]
    if case.refused:
        assert errors, f"{case.name} was expected to be refused ({case.refused})"
        text = str(errors[0])
        assert case.refused in text and "Fix:" in text, text
        RESULTS[case.name] = {"validate": f"refused: {errors[0].headline.split('. Fix:')[0][:140]}"}
        return
    assert not errors, [str(e) for e in errors]
    assert definition_hash(spec) == definition_hash(load(case)), "the hash must not depend on the run"
    RESULTS[case.name] = {"validate": "ok", "hash": definition_hash(spec)[:12]}


BUILDS = [case for case in CASES if case.builds]


@pytest.mark.parametrize("case", BUILDS, ids=[c.name for c in BUILDS])
def test_builds_on_debian_and_imports_its_main_package(case, registry, base_image, index_settings, docker_engine):
    from mlenv.pipeline import build

    result = build(load(case, base_image), f"{registry.host}/corpus/{case.name.replace('/', '-')}", index=index_settings)
    docker_engine.images.pull(result.image_ref)
    script = f"import {case.builds}; print({case.builds}.__name__)"
    output = docker_engine.containers.run(result.image_ref, ["python", "-c", script], remove=True).decode().strip()
    assert output == case.builds
    RESULTS.setdefault(case.name, {})["built"] = f"imported {case.builds} ({len(result.packages)} packages)"


CONDA = [case for case in CASES if case.conda_forge]


@pytest.mark.parametrize("case", CONDA, ids=[c.name for c in CONDA])
def test_conda_forge_files_fail_with_the_unreachable_channel_explanation(case, registry, base_image, index_settings, monkeypatch):
    """conda-forge is out of reach: the alias points at a closed port on 127.0.0.1, so it fails at once."""
    from mlenv.pipeline import build
    from testbed.services import free_port

    monkeypatch.setenv("MLENV_CONDA_CHANNEL_ALIAS", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLENV_CONDA_DEFAULTS_URL", f"http://127.0.0.1:{free_port()}/pkgs/main")
    with pytest.raises(BuildError) as caught:
        build(load(case, base_image), f"{registry.host}/corpus/conda", index=index_settings)
    assert caught.value.rule == "conda.channel", str(caught.value)
    RESULTS.setdefault(case.name, {})["build"] = f"refused: {caught.value.rule} ({caught.value.problem[:90]})"


def test_figures():
    """The closing figures (pytest -s prints them); meaningful after the whole file ran."""
    if len(RESULTS) < len(CASES):
        pytest.fail(f"run the whole file for the figures ({len(RESULTS)} of {len(CASES)} cases ran)")
    clean = [n for n, r in RESULTS.items() if r.get("validate") == "ok"]
    lines = [f"corpus: {len(CASES)} definitions; {len(clean)} validate clean, {sum('hash' in r for r in RESULTS.values())} hash, "
             f"{sum('built' in r for r in RESULTS.values())} built and imported, "
             f"{sum('build' in r for r in RESULTS.values())} conda-forge builds explained (conda.channel)"]
    lines += [f"  {name}: {r['validate']}" for name, r in sorted(RESULTS.items()) if r["validate"] != "ok"]
    lines += [f"  {name}: {r['built']}" for name, r in sorted(RESULTS.items()) if "built" in r]
    print("\n" + "\n".join(lines))
    assert len(clean) + sum(r["validate"] != "ok" for r in RESULTS.values()) == len(CASES)
