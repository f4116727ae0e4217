"""Existing conda environments read from conda-meta records and pip's dist-info folders, without
conda: exact pins, channel names without credentials, lookup by name, every error by its headline,
and fuzzed records that only ever raise SpecError."""

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.definition.conda_file import CondaSpec, parse_conda_mapping
from mlenv.definition.conda_prefix import read_existing_environment
from mlenv.diagnostics.errors import SpecError


def headline(call, *args) -> str:
    with pytest.raises(SpecError) as caught:
        call(*args)
    return caught.value.headline


def record(name, version, build, channel, files=(), **extra):
    """A conda-meta record shaped like the ones conda writes (trimmed to a few paths)."""
    fn = f"{name}-{version}-{build}.conda"
    pkgs = "/home/alice/miniforge3/pkgs"
    return {
        "build": build, "build_number": int(build.rsplit("_", 1)[-1]) if build[-1].isdigit() else 0,
        "channel": channel, "constrains": [], "depends": extra.pop("depends", []),
        "extracted_package_dir": f"{pkgs}/{fn[:-6]}", "features": "", "files": list(files), "fn": fn,
        "license": extra.pop("license", "BSD-3-Clause"), "link": {"source": f"{pkgs}/{fn[:-6]}", "type": 1},
        "md5": "a502d7aad449a1206efb366d6a12c52d", "name": name, "package_tarball_full_path": f"{pkgs}/{fn}",
        "paths_data": {"paths": [{"_path": f, "path_type": "hardlink", "sha256": "0" * 64, "size_in_bytes": 100}
                                 for f in files], "paths_version": 1},
        "requested_spec": extra.pop("requested_spec", ""), "sha256": "3f4365e11b28e244c95ba8579942b0802761ba7bb31c026f50d1a9ea9c728149",
        "size": 8065890, "subdir": channel.rsplit("/", 1)[-1], "timestamp": 1707226149000, "track_features": "",
        "url": f"{channel}/{fn}", "version": version, **extra,
    }


def dist_info(site: Path, name: str, version: str, installer: str | None) -> None:
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nLong text.\n")
    if installer is not None:
        (folder / "INSTALLER").write_text(f"{installer}\n")


@pytest.fixture
def prefix(tmp_path) -> Path:
    """A fake miniforge environment: conda packages, a pip-installed one, a leftover from python 3.10."""
    root = tmp_path / "miniforge3" / "envs" / "ml"
    meta, site = root / "conda-meta", root / "lib" / "python3.11" / "site-packages"
    meta.mkdir(parents=True)
    forge, main = "https://conda.anaconda.org/conda-forge", "https://repo.anaconda.com/pkgs/main"
    records = [
        record("python", "3.11.7", "hab00c5b_1_cpython", f"{forge}/linux-64", ["bin/python3.11", "lib/python3.11/os.py"],
               requested_spec="python=3.11", license="Python-2.0"),
        record("numpy", "1.26.4", "py311h64a7726_0", f"{forge}/linux-64",
               ["bin/f2py", "lib/python3.11/site-packages/numpy-1.26.4.dist-info/METADATA",
                "lib/python3.11/site-packages/numpy-1.26.4.dist-info/INSTALLER"], depends=["python >=3.11,<3.12.0a0"]),
        record("pip", "24.0", "pyhd8ed1ab_0", f"{forge}/noarch", ["lib/python3.11/site-packages/pip-24.0.dist-info/METADATA"]),
        record("tqdm", "4.66.2", "pyhd8ed1ab_0", f"{forge}/noarch", ["lib/python3.11/site-packages/tqdm-4.66.2.dist-info/METADATA"]),
        record("ca-certificates", "2024.3.11", "h06a4308_0", f"{main}/linux-64", ["ssl/cacert.pem"]),
    ]
    for item in records:
        (meta / f"{item['fn'][:-6]}.json").write_text(json.dumps(item, indent=2, sort_keys=True))
    (meta / "history").write_text("==> 2024-03-01 10:00:00 <==\n# cmd: conda create -n ml python=3.11 numpy\n")
    (meta / "state").write_text(json.dumps({"env_vars": {"OMP_NUM_THREADS": "4"}}))
    dist_info(site, "numpy", "1.26.4", "conda")
    dist_info(site, "pip", "24.0", "conda")
    dist_info(site, "tqdm", "4.66.2", "pip")  # conda's own package although INSTALLER says pip: conda-meta owns it
    dist_info(site, "requests", "2.32.3", "pip")
    dist_info(site, "Flask", "3.0.3", "uv")
    dist_info(root / "lib" / "python3.10" / "site-packages", "stale", "1.0", "pip")
    return root


def test_existing_environment_is_pinned_exactly(prefix):
    spec = read_existing_environment(str(prefix))
    assert spec == CondaSpec(
        channels=("pkgs/main", "conda-forge"),
        packages=("pkgs/main::ca-certificates ==2024.3.11 h06a4308_0", "conda-forge::numpy ==1.26.4 py311h64a7726_0",
                  "conda-forge::tqdm ==4.66.2 pyhd8ed1ab_0"),
        python_specs=("==3.11.7",),
        pip_lines=("Flask==3.0.3", "requests==2.32.3"),
        name="ml",
        variables=(("OMP_NUM_THREADS", "4"),),
    )


def test_existing_environment_pins_read_back_as_a_definition(prefix):
    spec = read_existing_environment(str(prefix))
    again = parse_conda_mapping({"channels": list(spec.channels), "dependencies": [*spec.packages, "python ==3.11.7"]})
    assert (again.packages, again.python_specs) == (spec.packages, spec.python_specs)


def test_existing_environment_found_by_name(prefix, tmp_path, monkeypatch):
    for var in ("CONDA_ENVS_PATH", "CONDA_PREFIX", "CONDA_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_existing_environment("ml").packages[1] == "conda-forge::numpy ==1.26.4 py311h64a7726_0"
    monkeypatch.setenv("CONDA_ENVS_PATH", f"{tmp_path / 'nowhere'}:{prefix.parent}")
    assert read_existing_environment("ml").name == "ml"


def test_existing_environment_not_found_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CONDA_ENVS_PATH", "/srv/envs")
    monkeypatch.setenv("CONDA_ROOT", "/opt/conda")
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    looked = ", ".join(["/srv/envs", "/opt/conda/envs", f"{tmp_path}/.conda/envs", f"{tmp_path}/miniconda3/envs",
                        f"{tmp_path}/anaconda3/envs", f"{tmp_path}/miniforge3/envs"])
    assert headline(read_existing_environment, "ml") == (
        f"conda_environment: no conda environment with this name in {looked} (got 'ml'). Fix: pass the environment's "
        "prefix directory (the folder holding conda-meta/) or its name; or set CONDA_ENVS_PATH to the folder that holds it")


def test_existing_environment_bad_inputs(prefix, tmp_path):
    fix = "Fix: pass the environment's prefix directory (the folder holding conda-meta/) or its name"
    assert headline(read_existing_environment, str(tmp_path)) == (
        f"conda_environment: is not a conda environment: it has no conda-meta/ folder (got '{tmp_path}'). {fix}")
    assert headline(read_existing_environment, "") == (
        f"conda_environment: must be a conda environment name or prefix directory (got ''). {fix}")
    record_fix = "Fix: reinstall that package (conda install --force-reinstall NAME) or recreate the environment"
    broken = prefix / "conda-meta" / "numpy-1.26.4-py311h64a7726_0.json"
    broken.write_text('{"name": "numpy", "version": "1.26.4"}')
    assert headline(read_existing_environment, str(prefix)) == (
        f"conda_environment (numpy-1.26.4-py311h64a7726_0.json): is not a conda package record: no build. {record_fix}")
    broken.write_text('{"name": "numpy", "version": "1.26.4", "build": "py311h64a7726_0", "channel": "conda-forge')
    assert headline(read_existing_environment, str(prefix), "conda_environment[0]") == (
        "conda_environment[0] (numpy-1.26.4-py311h64a7726_0.json): cannot be read: Unterminated string starting at: "
        f"line 1 column 79 (char 78). {record_fix}")


def test_existing_environment_broken_record_version_and_state(prefix):
    item = record("mypkg", "1.0 beta", "h0_0", "https://conda.anaconda.org/conda-forge/linux-64")
    (prefix / "conda-meta" / "mypkg-1.0-h0_0.json").write_text(json.dumps(item))
    assert headline(read_existing_environment, str(prefix)) == (
        "conda_environment (mypkg-1.0-h0_0.json): does not give a valid pin: the build string 'beta=h0_0' may only have "
        "letters, digits, _ . + and * "
        "(got 'conda-forge::mypkg==1.0 beta=h0_0'). "
        "Fix: reinstall that package (conda install --force-reinstall NAME) or recreate the environment")
    (prefix / "conda-meta" / "mypkg-1.0-h0_0.json").unlink()
    (prefix / "conda-meta" / "state").write_text("{env_vars")
    assert headline(read_existing_environment, str(prefix)) == (
        "conda_environment (state): cannot be read: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1). Fix: fix or delete conda-meta/state (conda env config vars list)")


def test_channel_urls_lose_credentials_and_tokens(prefix):
    item = record("mypkg", "1.0", "h0_0", "https://bot:pw@conda.example.com/t/tk-123/private/linux-64")
    (prefix / "conda-meta" / "mypkg-1.0-h0_0.json").write_text(json.dumps(item))
    spec = read_existing_environment(str(prefix))
    assert spec.channels == ("pkgs/main", "https://conda.example.com/private", "conda-forge")
    assert 'mypkg ==1.0 h0_0[channel="https://conda.example.com/private/"]' in spec.packages
    assert not any("pw" in text or "tk-123" in text for text in (*spec.channels, *spec.packages))


# --- fuzz: nothing but SpecError escapes ------------------------------------------------------

json_data = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(string.printable, max_size=20)),
                         lambda children: st.one_of(st.lists(children, max_size=4),
                                                    st.dictionaries(st.sampled_from(["name", "version", "build", "channel", "files",
                                                                                     "paths_data", "paths", "_path"]), children, max_size=5)),
                         max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_data, st.booleans())
def test_fuzz_conda_meta_records_only_raise_spec_error(prefix, data, as_json):
    path = prefix / "conda-meta" / "fuzz-1.0-0.json"
    path.write_text(json.dumps(data) if as_json else str(data))
    try:
        assert isinstance(read_existing_environment(str(prefix)), CondaSpec)
    except SpecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_as_environment_name(text):
    try:
        read_existing_environment(text)
    except SpecError:
        pass
