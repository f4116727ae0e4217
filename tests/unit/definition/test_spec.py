"""The definition model: every bad input is one SpecError naming the field, value and fix."""

import pytest

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.load import from_mapping, load_file

BASE = "127.0.0.1:5000/base/python:3.11"


def test_valid_definition_parses_every_field():
    spec = from_mapping({"name": "n", "description": "d", "image": BASE, "pip": ["NumPy==1.26.4", "requests"], "variables": {"A": 1}})
    assert [r.name for r in spec.pip.requirements] == ["NumPy", "requests"]
    assert spec.variables == {"A": "1"}
    assert (spec.name, spec.description, spec.image) == ("n", "d", BASE)


@pytest.mark.parametrize(
    "data, field, fix",
    [
        ({"image": BASE, "pips": ["six"]}, "pips", "did you mean 'pip'?"),
        ({"image": BASE, "pip": ["numpy=>1"]}, "pip[0]", "PEP 508"),
        ({"image": BASE, "pip": ["six", ""]}, "pip[1]", "non-empty"),
        ({"image": BASE, "pip": {"six": 1}}, "pip", "pip: [numpy==1.26.4"),
        ({"image": BASE, "pip": ["six", "Six>=1"]}, "pip", "merge them"),
        ({"image": BASE, "pip": ["pkg @ https://example.org/pkg.whl"]}, "pip[0]", "keep the name pip wheel gave it"),
        ({"image": BASE, "variables": {"1BAD": "x"}}, "variables.1BAD", "letters, digits"),
        ({"image": BASE, "variables": {"PATH": "/x"}}, "variables.PATH", "remove it"),
        ({"image": BASE, "variables": {"A": [1]}}, "variables.A", "quote the value"),
        ({"image": "not an image"}, "image", "host/repository:tag"),
    ],
)
def test_bad_input_names_field_and_fix(data, field, fix):
    with pytest.raises(SpecError) as caught:
        from_mapping(data)
    assert caught.value.where == field
    assert str(caught.value).startswith(f"{field}: ")
    assert fix in str(caught.value)


def test_requirements_file_beside_the_yaml(tmp_path):
    (tmp_path / "requirements.txt").write_text("# tools\nsix==1.16.0  # pinned\n\nrequests\n")
    (tmp_path / "env.yml").write_text(f"image: {BASE}\npip: requirements.txt\n")
    assert [str(r) for r in load_file(tmp_path / "env.yml").pip.requirements] == ["six==1.16.0", "requests"]


def test_requirements_file_unsupported_option_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "requirements.txt").write_text("six\n--no-binary :all:\n")
    (tmp_path / "env.yml").write_text(f"image: {BASE}\npip: requirements.txt\n")
    with pytest.raises(SpecError, match=r"pip \(requirements.txt:2\)"):
        load_file(tmp_path / "env.yml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    (tmp_path / "env.yml").write_text("image: [unclosed\npip: x\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_file(tmp_path / "env.yml")
