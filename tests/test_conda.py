"""Conda definitions: environment.yml files, inline mappings and existing environments into CondaSpec.

Every error rule is checked by its exact headline; the fuzz tests show that nothing but SpecError
ever escapes, whatever the YAML text or the nested data.
"""

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.conda import FIELDS, CondaSpec, parse_conda_file, parse_conda_mapping, read_existing_environment
from mlenv.errors import SpecError, SpecWarning

FIXTURES = Path(__file__).parent / "fixtures" / "definitions" / "conda"
SPEC_FIX = "Fix: write name, name=version or name>=x,<y (conda match spec); quote specs containing < or > in YAML"


def headline(call, *args) -> str:
    with pytest.raises(SpecError) as caught:
        call(*args)
    return caught.value.headline


# --- files ------------------------------------------------------------------------------------

def test_azureml_curated_file():
    spec = parse_conda_file(FIXTURES / "azureml-curated.yml")
    assert spec.name == "project_environment"
    assert spec.channels == ("anaconda", "conda-forge")
    assert spec.python_specs == ("3.10",)
    assert spec.packages == ("numpy 1.23.5.*",)  # pip=23.2.1 dropped: the builder provides pip
    assert spec.pip_lines[0] == "--extra-index-url https://pkgs.dev.azure.com/contoso/_packaging/ml-feed/pypi/simple/"
    assert spec.pip_lines[1:4] == ("azureml-core==1.57.0", "azureml-defaults==1.57.0", "azureml-mlflow==1.57.0")
    assert spec.pip_lines[-1] == "tqdm>=4.59,<4.60" and len(spec.pip_lines) == 12
    assert spec.warnings == () and spec.variables == ()


def test_repo2docker_environment_yml():
    spec = parse_conda_file(FIXTURES / "environment.yml")
    assert spec == CondaSpec(
        channels=("conda-forge", "nodefaults"),
        packages=("numpy >=1.26,<2", "scipy 1.11.*", "matplotlib-base 3.8.*", "pandas >=2.1", "ipywidgets"),
        python_specs=("3.11",),
        pip_lines=("-r requirements.txt",),
        name="example-environment",
        variables=(("OMP_NUM_THREADS", "1"), ("MPLBACKEND", "Agg")),
    )


def test_exported_file_keeps_builds_and_warns_about_prefix():
    spec = parse_conda_file(FIXTURES / "exported-with-prefix.yml")
    assert spec.channels == ("conda-forge", "defaults")
    assert spec.packages[0] == "_libgcc_mutex ==0.1 conda_forge"
    assert "numpy ==1.26.4 py311h64a7726_0" in spec.packages
    assert not any(p.startswith(("pip", "python ")) for p in spec.packages)
    assert spec.python_specs == ("==3.11.7",)
    assert spec.pip_lines == ("requests==2.32.3",)
    [warning] = spec.warnings
    assert isinstance(warning, SpecWarning)
    assert warning.headline == ("conda_file (exported-with-prefix.yml).prefix: is machine-specific and ignored "
                                "(got '/home/alice/miniforge3/envs/ml'). Fix: remove prefix: the image decides where the environment lives")


@pytest.mark.parametrize("file, expected", [
    ("broken-yaml.yml", "conda_file (broken-yaml.yml:3): not valid YAML: expected ',' or ']', but got ':' "
                        "(while parsing a flow sequence started at line 2). Fix: fix the YAML syntax"),
    ("empty.yml", "conda_file (empty.yml): is empty. Fix: write channels: [conda-forge] and dependencies: [python=3.11, numpy]"),
    ("not-a-mapping.yml", "conda_file (not-a-mapping.yml:3): must hold a mapping with name, channels and dependencies, "
                          "not a list. Fix: write channels: [conda-forge] and dependencies: [python=3.11, numpy]"),
    ("unknown-field.yml", "conda_file (unknown-field.yml).dependences: unknown field. Fix: did you mean 'dependencies'?"),
    ("bad-spec.yml", "conda_file (bad-spec.yml).dependencies[1]: not a conda match spec: unable to parse version spec: "
                     f"=>1.26 (got 'numpy=>1.26'). {SPEC_FIX}"),
    ("duplicate.yml", "conda_file (duplicate.yml).dependencies[3]: numpy is listed twice (also at dependencies[1]) "
                      "(got 'numpy>=1.26,<2'). Fix: keep one entry per package and combine the constraints, e.g. numpy>=1.26,<2"),
    ("credentials.yml", "conda_file (credentials.yml).channels[0]: has credentials in plain text "
                        "(got 'https://***@conda.example.com/private'). Fix: remove user:password@ from the URL and put "
                        "the credentials in the environment (e.g. a .condarc or netrc outside the definition)"),
])
def test_broken_files(file, expected):
    assert headline(parse_conda_file, FIXTURES / file) == expected


def test_credentials_never_reach_the_message():
    with pytest.raises(SpecError) as caught:
        parse_conda_file(FIXTURES / "credentials.yml")
    assert "s3cret" not in str(caught.value) and "builder" not in str(caught.value)


def test_missing_file_and_yaml_that_pyyaml_cannot_construct(tmp_path):
    missing = tmp_path / "environment.yml"
    assert headline(parse_conda_file, missing) == (
        f"conda_file (environment.yml): cannot be read: No such file or directory (got '{missing}'). "
        "Fix: pass the path of an existing environment.yml")
    missing.write_text("name: x\ndependencies:\n  - 2001-13-45\n")  # PyYAML raises ValueError for this date
    assert headline(parse_conda_file, missing) == (
        "conda_file (environment.yml): not valid YAML: month must be in 1..12. Fix: fix the YAML syntax")


def test_path_that_is_not_a_path():
    assert headline(parse_conda_file, None) == (
        "conda_file: must be the path of a conda environment file. Fix: pass the path of an existing environment.yml")


def test_where_prefix_is_the_callers(tmp_path):
    (tmp_path / "env.yml").write_text("dependencies: [numpy, numpy]\n")
    assert headline(parse_conda_file, tmp_path / "env.yml", "python.conda_dependencies_file").startswith(
        "python.conda_dependencies_file (env.yml).dependencies[1]: numpy is listed twice")


# --- mappings ---------------------------------------------------------------------------------

def test_match_specs_become_canonical_and_keep_order():
    spec = parse_conda_mapping({"dependencies": [
        "numpy=1.26", "scikit-learn==1.4.2", "conda-forge::pandas>=2.1,<3", "python=3.11", "libgcc-ng",
        "cudatoolkit=11.8.*", "pytorch::pytorch=2.1.0=py3.11_cuda11.8*", "pip", "python>=3.8", "python",
        "blas[build=mkl]", "  tqdm >= 4.66 ",
    ]})
    assert spec.packages == ("numpy 1.26.*", "scikit-learn ==1.4.2", "conda-forge::pandas >=2.1,<3", "libgcc-ng",
                             "cudatoolkit 11.8.*", "pytorch::pytorch ==2.1.0 py3.11_cuda11.8*", 'blas[build="mkl"]', "tqdm >=4.66")
    assert spec.python_specs == ("3.11", ">=3.8", "")


def test_equivalent_spellings_are_one_canonical_string():
    spellings = ["numpy=1.26", "numpy 1.26.*", "numpy==1.26.*", "numpy[version='1.26.*']", "NumPy = 1.26"]
    assert {parse_conda_mapping({"dependencies": [s]}).packages for s in spellings} == {("numpy 1.26.*",)}


def test_channels_kept_in_priority_order_with_nodefaults():
    spec = parse_conda_mapping({"channels": ["pytorch", "nvidia", "conda-forge", "nodefaults"], "dependencies": []})
    assert spec.channels == ("pytorch", "nvidia", "conda-forge", "nodefaults")


def test_empty_keys_mean_empty_lists():
    assert parse_conda_mapping({"name": "e", "channels": None, "dependencies": None}) == CondaSpec(name="e")


def test_prefix_warning_inline():
    spec = parse_conda_mapping({"dependencies": ["numpy"], "prefix": "/opt/conda/envs/x"})
    assert [w.headline for w in spec.warnings] == [
        "conda.prefix: is machine-specific and ignored (got '/opt/conda/envs/x'). "
        "Fix: remove prefix: the image decides where the environment lives"]


@pytest.mark.parametrize("data, expected", [
    (["numpy"], "conda: must be a mapping with name, channels and dependencies (got ['numpy']). "
                "Fix: write channels: [conda-forge] and dependencies: [python=3.11, numpy]"),
    ({"dependencies": ["numpy"], "channel": ["conda-forge"]}, "conda.channel: unknown field. Fix: did you mean 'channels'?"),
    ({"image": "x"}, "conda.image: unknown field. Fix: known fields are name, channels, dependencies, prefix, variables"),
    ({"name": 3}, "conda.name: must be a non-empty string (got 3). Fix: write name: my-env (quoted if it looks like a number)"),
    ({"channels": "conda-forge"}, "conda.channels: must be a list (got 'conda-forge'). Fix: write channels: [conda-forge, nodefaults]"),
    ({"channels": ["conda forge"]}, "conda.channels[0]: must be a channel name or URL without spaces (got 'conda forge'). "
                                    "Fix: write a channel such as conda-forge or https://host/channel"),
    ({"channels": ["conda-forge", "https://ci:tok3n@repo.example.org/conda/ml"]},
     "conda.channels[1]: has credentials in plain text (got 'https://***@repo.example.org/conda/ml'). "
     "Fix: remove user:password@ from the URL and put the credentials in the environment (e.g. a .condarc or netrc outside the definition)"),
    ({"dependencies": "numpy"}, "conda.dependencies: must be a list (got 'numpy'). "
                                "Fix: write dependencies: [python=3.11, numpy, {pip: [requests]}]"),
    ({"dependencies": ["numpy", 3.1]}, f"conda.dependencies[1]: must be a match spec string or a pip: [...] subsection (got 3.1). {SPEC_FIX}"),
    ({"dependencies": ["numpy<"]}, f"conda.dependencies[0]: not a conda match spec: unable to parse version spec: < (got 'numpy<'). {SPEC_FIX}"),
    ({"dependencies": [">=1.26"]}, f"conda.dependencies[0]: not a conda match spec: missing package name (got '>=1.26'). {SPEC_FIX}"),
    ({"dependencies": ["numpy*"]}, 'conda.dependencies[0]: not a conda match spec: "numpy*" looks like a glob but only exact '
                                   "package names are allowed, package names can only contain 0-9, a-z, A-Z, -, _, or . "
                                   f"(got 'numpy*'). {SPEC_FIX}"),
    ({"dependencies": ["foo 1.0 bar baz"]}, "conda.dependencies[0]: not a conda match spec: the build string 'bar baz' may "
                                            f"only have letters, digits, _ . + and * (got 'foo 1.0 bar baz'). {SPEC_FIX}"),
    ({"dependencies": ["numpy=1.26=py311=x"]}, "conda.dependencies[0]: not a conda match spec: the build string 'py311=x' may "
                                               f"only have letters, digits, _ . + and * (got 'numpy=1.26=py311=x'). {SPEC_FIX}"),
    ({"dependencies": ["nümpy"]}, "conda.dependencies[0]: not a conda match spec: it has characters a match spec cannot have "
                                  f"(got 'nümpy'). {SPEC_FIX}"),
    ({"dependencies": ['"::0']}, "conda.dependencies[0]: not a conda match spec: it reads back as "
                                 f"'0[channel=\"https://conda.anaconda.org/%22/\"]' (got '\"::0'). {SPEC_FIX}"),
    ({"dependencies": ["https://u:pw@conda.example.com/ml::torch"]},
     "conda.dependencies[0]: has credentials in plain text (got 'https://***@conda.example.com/ml::torch'). "
     "Fix: name the channel in channels: and put the credentials in the environment (e.g. a .condarc or netrc outside the definition)"),
    ({"dependencies": ["scipy", "SciPy>=1.11"]}, "conda.dependencies[1]: scipy is listed twice (also at dependencies[0]) "
                                                 "(got 'SciPy>=1.11'). Fix: keep one entry per package and combine the constraints, e.g. numpy>=1.26,<2"),
    ({"dependencies": [{"pip": ["a"]}, {"pip": ["b"]}]}, "conda.dependencies[1]: is a second pip subsection. "
                                                         "Fix: merge both into one - pip: [...] entry"),
    ({"dependencies": [{"pip": ["a"], "conda": ["b"]}]}, "conda.dependencies[0].conda: unknown field. "
                                                         "Fix: a mapping in dependencies holds only pip: [...]"),
    ({"dependencies": [{}]}, "conda.dependencies[0]: is an empty mapping (got {}). "
                             "Fix: write - pip: [requests==2.32.3] or remove the entry"),
    ({"dependencies": [{"pip": "requests"}]}, "conda.dependencies[0].pip: must be a list (got 'requests'). "
                                              "Fix: write pip: [requests==2.32.3, -r requirements.txt]"),
    ({"dependencies": [{"pip": ["requests", 2]}]}, "conda.dependencies[0].pip[1]: must be a string (a requirements-file line) "
                                                   "(got 2). Fix: quote the value"),
    ({"variables": ["A=1"]}, "conda.variables: must be a mapping of NAME: value (got ['A=1']). "
                             "Fix: write variables: {OMP_NUM_THREADS: \"1\"}"),
    ({"variables": {1: "x"}}, "conda.variables: names must be non-empty strings (got 1). Fix: write NAME: value"),
    ({"variables": {"DEBUG": True}}, "conda.variables.DEBUG: values must be strings or numbers (got True). Fix: quote the value"),
])
def test_mapping_error_rules(data, expected):
    assert headline(parse_conda_mapping, data) == expected


def test_pip_subsection_items_are_kept_raw():
    lines = ["--extra-index-url https://download.example.org/whl/cu118", "torch==2.1.0+cu118", "-e ./src  # local"]
    assert parse_conda_mapping({"dependencies": ["pip", {"pip": lines}]}).pip_lines == tuple(lines)


specs = st.builds("{}{}{}".format,
                  st.sampled_from(["", "conda-forge::", "pytorch::", "nvidia/label/cuda-11.8.0::", "conda-forge/linux-64::"]),
                  st.sampled_from(["numpy", "libgcc-ng", "_openmp_mutex", "r-base", "scikit-learn"]),
                  st.sampled_from(["", "=1.26", "==1.26.4", ">=1.26,<2", "=11.8.*", "=2.1.0=py3.11_cuda11.8*", " 1.26.* *mkl*",
                                   ">=1.2|<0.5", "[version='>=1.2']", "=1.26=*_cp311", "!=1.3", "~=1.2", "=1!2.0", ">1.0.0rc1"]))


@settings(max_examples=300, deadline=None)
@given(specs)
def test_canonical_form_is_stable(text):
    once = parse_conda_mapping({"dependencies": [text]}).packages
    assert parse_conda_mapping({"dependencies": list(once)}).packages == once


# --- existing environments --------------------------------------------------------------------

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

yaml_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from([
        "name:", "channels:", "dependencies:", "prefix:", "variables:", "pip:", "- ", "  ", "    ", "\n", ":", "[", "]",
        "{", "}", ",", "'", '"', "#", "&a ", "*a", "!!binary ", "!!str ", "!!python/object:os.system ", "2001-13-45",
        "numpy>=1.26,<2", "conda-forge::numpy", "python=3.11", "https://u:p@h/c", "nodefaults", "3.10", "~", "null",
        "---\n", "? ", "<<: *a", "\t", "\x00", "é", "-r requirements.txt",
    ]), max_size=40).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(yaml_text)
def test_fuzz_yaml_files_only_raise_spec_error(tmp_path, text):
    path = tmp_path / "environment.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(parse_conda_file(path), CondaSpec)
    except SpecError:
        pass


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.sampled_from(["numpy", "python=3.11", "pip", "numpy<", "pytorch::pytorch=2.1.0=py3.11_cuda11.8*",
                                     "https://u:p@h/c", "nodefaults", "-r requirements.txt"]))
keys = st.one_of(st.sampled_from([*FIELDS, "pip"]), st.text(max_size=10), st.integers())
nested = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=5),
                                                          st.dictionaries(keys, children, max_size=5)), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.one_of(nested, st.dictionaries(st.sampled_from(FIELDS), nested, max_size=5)))
def test_fuzz_nested_data_only_raises_spec_error(data):
    try:
        assert isinstance(parse_conda_mapping(data), CondaSpec)
    except SpecError:
        pass


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
def test_fuzz_any_text_as_spec_channel_or_environment_name(text):
    for call, argument in ((parse_conda_mapping, {"dependencies": [text]}), (parse_conda_mapping, {"channels": [text]}),
                           (read_existing_environment, text)):
        try:
            call(argument)
        except SpecError:
            pass
