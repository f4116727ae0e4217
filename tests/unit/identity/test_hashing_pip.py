"""The environment's own pip (docs/HASHING.md): `python.pip` and a conda file's `pip=X` pin are
hashed only when set, applied by the builders, and shown by `mlenv diff` as a rebuild."""

import pytest

from mlenv.builders.venv import venv_requirements
from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.identity.changes import compare
from mlenv.identity.hashing import definition_hash
from mlenv.resolve.conda_lock import solve_specs

BASE = "127.0.0.1:5000/base/python:3.11"


def spec(**fields):
    return from_mapping({"image": BASE, **fields})


def conda(*dependencies):
    return spec(conda={"channels": ["conda-forge"], "dependencies": ["python=3.11", *dependencies, {"pip": ["six==1.16.0"]}]})


def test_the_default_pip_is_left_out_of_the_payload():
    assert "python" not in canonical_definition(spec(pip=["six"]))
    assert definition_hash(spec(pip=["six"], python={"pip": True})) == definition_hash(spec(pip=["six"]))


def test_no_pip_and_a_pinned_pip_are_other_environments():
    hashes = {definition_hash(spec(pip=["six"], python={"pip": value})) for value in (True, False, "24.2", "24.3.1")}
    assert len(hashes) == 4
    assert canonical_definition(spec(python={"pip": "24.2"}))["python"] == {"pip": "==24.2"}
    assert definition_hash(spec(python={"pip": "24.2"})) == definition_hash(spec(python={"pip": "== 24.02"}))  # one spelling, as for requirements


def test_a_conda_environments_pip_pin_is_hashed_and_solved():
    old, new = conda("numpy=1.26", "pip=23.0"), conda("numpy=1.26", "pip=24.2")
    assert canonical_definition(new)["conda"]["packages"] == ["numpy 1.26.*", "pip 24.2.*"]
    assert definition_hash(old) != definition_hash(new)
    assert solve_specs(new.conda, "3.11")[-1] == "pip 24.2.*"  # the solver gets the pin, not a bare pip
    assert solve_specs(conda("numpy=1.26").conda, "3.11")[-1] == "pip"
    report = compare(old, new)
    assert report.rebuilds and [c.text for c in report.changes] == ["pip 23.0.* → 24.2.*"]


def test_a_pip_only_conda_files_pin_is_the_venvs_pip():
    """`python=3.11`, `pip=24.2` and a pip section mean this Python, this pip, these packages: the
    same as writing them in our YAML."""
    pinned = conda("pip=24.2")
    assert pinned.python.pip == "==24.2.*"
    assert definition_hash(pinned) == definition_hash(spec(python={"version": "3.11", "pip": "24.2.*"}, pip=["six==1.16.0"]))
    assert definition_hash(pinned) != definition_hash(conda("pip"))
    assert from_mapping(to_mapping(pinned)).python.pip == "==24.2.*"  # the provider's round trip keeps it
    assert [str(r) for r in venv_requirements(pinned).requirements] == ["six==1.16.0", "pip==24.2.*"]
    report = compare(conda("pip=23.0"), pinned)
    assert report.rebuilds and [c.text for c in report.changes] == ["Python pip: ==23.0.* → ==24.2.*"]


def test_the_venv_gets_the_newest_pip_unless_told_not_to():
    assert [str(r) for r in venv_requirements(spec(pip=["six"])).requirements] == ["six", "pip"]
    assert [str(r) for r in venv_requirements(spec(pip=["six"], python={"pip": False})).requirements] == ["six"]
    report = compare(spec(pip=["six"]), spec(pip=["six"], python={"pip": False}))
    assert report.rebuilds and [c.text for c in report.changes] == ["Python pip: (the newest) → false"]


@pytest.mark.parametrize("make, where, words", [
    (lambda: spec(python={"pip": 3}), "python.pip", "true, false or a pip version"),
    (lambda: spec(python={"pip": "twenty"}), "python.pip", "not a pip version"),
    (lambda: conda("pip=24.2=py_0"), "conda.dependencies", "a conda build"),
    (lambda: spec(python={"pip": False}, conda={"channels": ["conda-forge"], "dependencies": ["python=3.11", "numpy"]}), "python.pip", "conda environment"),
    (lambda: spec(python={"pip": "24.2"}, conda={"channels": ["c"], "dependencies": ["python=3.11", "pip=24.2"]}), "python.pip", "conda file pins"),
])
def test_a_pip_setting_that_cannot_apply_is_one_clear_error(make, where, words):
    with pytest.raises(SpecError) as caught:
        make()
    assert caught.value.where == where and words in caught.value.problem
