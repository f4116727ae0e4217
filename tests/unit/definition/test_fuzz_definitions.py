"""Fuzzing the definition parsers: whatever a user writes, the answer is a SpecError, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.load import TOP_FIELDS, from_mapping, load_file
from mlenv.definition.rules import findings

KEYS = st.sampled_from([*TOP_FIELDS, "base_image", "user_managed_dependencies", "channels", "dependencies", "pip", "path",
                        "dockerfile_path", "packages", "version", "address", "username", "password", "steps", "platform"]) | st.text(max_size=6)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20) | st.sampled_from(
    ["numpy==1.26.4", "python=3.11", "-r missing.txt", "--index-url http://u:p@h/simple", "mlenv:x@latest", "./x.whl", "3.10",
     "registry.example/base/python:3.11", "FROM scratch\n", "conda-forge", "../Dockerfile", "com.x:y:1"])
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25)


def parse_and_validate(load):
    try:
        spec = load()
    except SpecError as error:
        assert error.headline and "Fix:" in error.headline
        return
    findings(spec)  # rules over a parsed definition never raise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, DATA, max_size=6))
def test_any_mapping_is_parsed_or_refused_with_a_spec_error(data):
    with tempfile.TemporaryDirectory() as work:
        parse_and_validate(lambda: from_mapping(data, base_dir=Path(work)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | DATA.map(lambda d: yaml.safe_dump(d, allow_unicode=True)))
def test_any_file_is_loaded_or_refused_with_a_spec_error(text):
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "environment.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        parse_and_validate(lambda: load_file(path))
