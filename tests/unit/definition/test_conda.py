"""Conda definitions: environment.yml files and inline mappings into CondaSpec (existing
environments on disk: tests/test_condameta.py).

Every error rule is checked by its exact headline; the fuzz tests show that nothing but SpecError
ever escapes, whatever the YAML text or the nested data.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.definition.conda_file import FIELDS, CondaSpec, parse_conda_file, parse_conda_mapping
from mlenv.diagnostics.errors import SpecError, SpecWarning
from tests import paths

FIXTURES = paths.DEFINITIONS / "conda"
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
        wants_pip=True,  # the file lists pip: a conda-built environment gets conda's pip
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
                        "(got 'https://***@conda.example.com/private'). Fix: write the password as a placeholder filled from the "
                        "environment at build time (https://user:${CHANNEL_PASSWORD}@host/channel), or a token as /t/${TOKEN}/"),
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
     "Fix: write the password as a placeholder filled from the environment at build time (https://user:${CHANNEL_PASSWORD}@host/channel), "
     "or a token as /t/${TOKEN}/"),
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


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_as_spec_or_channel(text):
    for call, argument in ((parse_conda_mapping, {"dependencies": [text]}), (parse_conda_mapping, {"channels": [text]})):
        try:
            call(argument)
        except SpecError:
            pass
