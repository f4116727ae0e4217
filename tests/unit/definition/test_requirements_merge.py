"""Merging parsed requirement lists from several sources, and fuzzing the parser and the merge:
nothing but a SpecError, ever."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.diagnostics.errors import SpecError, SpecWarning
from mlenv.definition.requirements import PipSpec, merge, parse_file, parse_lines
from tests.requirement_files import FIXTURES, HEX, WHEEL


# --- merge ---------------------------------------------------------------------------------------

def test_merge_combines_sources():
    first = parse_lines(["-i https://a.example/simple", f"six==1.16.0 --hash=sha256:{HEX}", "--extra-index-url https://x.example/simple"], FIXTURES)
    second = parse_lines(["-c constraints.txt", "-i https://a.example/simple/", f"idna==3.7 --hash=sha256:{HEX}",
                          "--extra-index-url https://x.example/simple", f"./wheels/{WHEEL.name}"], FIXTURES)
    merged = merge(first, second, PipSpec(warnings=(SpecWarning("w", "p", "f"),)))
    assert [r.name for r in merged.requirements] == ["six", "idna"]
    assert merged.index_url == "https://a.example/simple" and merged.extra_index_urls == ("https://x.example/simple",)
    assert merged.hashes == (("idna", (f"sha256:{HEX}",)), ("six", (f"sha256:{HEX}",)))
    assert len(merged.constraints) == 3 and merged.wheels == second.wheels and len(merged.warnings) == 1
    assert merge() == PipSpec()


def test_merge_rejects_duplicates_and_two_indexes():
    with pytest.raises(SpecError) as caught:
        merge(parse_lines(["Six"], FIXTURES), parse_lines(["six>=1"], FIXTURES), origin="pip")
    assert caught.value.headline == "pip: six is listed twice ('Six' and 'six>=1'). Fix: merge them into one requirement"
    with pytest.raises(SpecError) as caught:
        merge(PipSpec(index_url="https://a.example/simple"), PipSpec(index_url="https://b.example/simple"), origin="pip")
    assert caught.value.headline == ("pip: two different index URLs ('https://a.example/simple' and 'https://b.example/simple'). "
                                     "Fix: keep one --index-url; add the others with --extra-index-url")


# --- fuzz: nothing but SpecError, ever -----------------------------------------------------------

FRAGMENTS = st.sampled_from([
    "-r ", "-c ", "-i ", "-f ", "-e ", "--hash=", "sha256:", HEX, "--index-url=", "--extra-index-url ", "--find-links=",
    "https://", "http://", "file:", "file:///", "file://[", "https://[", "u:p@", "${T}@", "host", "/simple", "./", "../", "/", "\\", "\n", " ",
    "#", " #", ";", "; ", "@", " @ ", "[", "]", "==", ">=", "1.0", "six", "wheels/", WHEEL.name, ".whl", ".tar.gz",
    "python_version < '3.12'", "'", '"', "base.txt", "constraints.txt", "requirements.txt", "--pre", "\x00", "é",
])


def _only_spec_errors(call) -> None:
    try:
        result = call()
    except SpecError as err:
        assert err.where.startswith("pip") and err.problem and err.fix
    else:
        assert isinstance(result, PipSpec)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text()))
def test_fuzz_inline_lines(lines):
    with tempfile.TemporaryDirectory() as folder:
        _only_spec_errors(lambda: parse_lines(lines, Path(folder)))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fuzz_file_contents(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "requirements.txt"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _only_spec_errors(lambda: parse_file(path))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(FRAGMENTS).map("".join)))
def test_fuzz_lines_built_from_the_syntax(lines):
    # Runs against the fixture folder, so includes and wheel paths can resolve to real files.
    _only_spec_errors(lambda: parse_lines(lines, FIXTURES))
    _only_spec_errors(lambda: merge(parse_lines(lines[:1], FIXTURES), parse_lines(lines[1:], FIXTURES)))
