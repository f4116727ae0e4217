"""pip requirement lines, one by one: line syntax, unsupported and malformed options, --hash values,
requirements themselves and inline list items: what is kept, and one exact SpecError per rule.

Includes, indexes and wheels are in test_requirements_locations.py; merging and fuzzing in
test_requirements_merge.py."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.requirements import PipSpec, parse_file, parse_lines
from tests.requirement_files import FIXTURES, HEX, WHEEL_FIX, error, file_error, write

PEP508_FIX = "Fix: write it as name, name==version or name>=x,<y (PEP 508)"
HASH_FIX = "Fix: copy the value from pip hash <file> or pip-compile --generate-hashes, e.g. --hash=sha256:<64 hex digits>"


def test_pip_spec_is_frozen_and_empty_by_default():
    with pytest.raises(FrozenInstanceError):
        PipSpec().index_url = "https://x"  # type: ignore[misc]
    assert parse_lines([], FIXTURES) == PipSpec()


# --- line syntax -------------------------------------------------------------------------------

def test_comments_blank_lines_and_continuations(tmp_path):
    path = write(tmp_path, "requirements.txt", "# header\n\nsix==1.16.0  # pinned\nrequests \\\n  >=2.31 \\\n\n  \nurl#frag==1  # not a comment: no space\\\n")
    with pytest.raises(SpecError) as caught:
        parse_file(path)
    assert caught.value.where == "pip (requirements.txt:8)"  # the line numbers survive the joined lines
    path.write_text("# header\n\nsix==1.16.0  # pinned\nrequests \\\n  >=2.31\n\n  \n")
    assert [str(r) for r in parse_file(path).requirements] == ["six==1.16.0", "requests>=2.31"]


def test_continuation_error_is_reported_at_its_first_line(tmp_path):
    path = write(tmp_path, "r.txt", "six\nfoo==1 \\\n  --pre\n")
    assert file_error(path).where == "pip (r.txt:2)"


def test_a_comment_line_ending_in_backslash_does_not_continue(tmp_path):
    path = write(tmp_path, "r.txt", "# note \\\nsix\n")
    assert [r.name for r in parse_file(path).requirements] == ["six"]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "r.txt"
    path.write_bytes("\ufeffsix==1.16.0\n".encode())
    assert [r.name for r in parse_file(path).requirements] == ["six"]


# --- options: unsupported or malformed -----------------------------------------------------------

BUILD_FIX = f"Fix: remove it: nothing is built at install time; {WHEEL_FIX[5:]}, passing the options you need to pip wheel"


@pytest.mark.parametrize("line, headline", [
    ("--pre", "pip[0]: option --pre is not supported (got '--pre'). "
              "Fix: remove it and pin the pre-release itself (name==2.0rc1); a pinned pre-release installs without --pre"),
    ("--no-binary :all:", "pip[0]: option --no-binary is not supported: wheels are always required (got '--no-binary'). "
                          f"Fix: remove it; for a package without a wheel, {WHEEL_FIX[5:]}"),
    ("--only-binary=:all:", "pip[0]: option --only-binary is not supported (got '--only-binary=:all:'). "
                            "Fix: remove it: wheels are always required, as if --only-binary=:all: were set"),
    ("--prefer-binary", "pip[0]: option --prefer-binary is not supported (got '--prefer-binary'). "
                        "Fix: remove it: wheels are always required, as if --only-binary=:all: were set"),
    ("--trusted-host pypi.internal", "pip[0]: option --trusted-host is not supported: TLS is always verified (got '--trusted-host'). "
                                     "Fix: remove it; for a private CA set SSL_CERT_FILE to its certificate bundle"),
    ("--no-index", "pip[0]: option --no-index is not supported (got '--no-index'). "
                   "Fix: remove it; to use only your own packages set --index-url to your index, or reference the .whl files directly"),
    ("--require-hashes", "pip[0]: option --require-hashes is not supported (got '--require-hashes'). "
                         "Fix: remove it: every --hash= given is checked; add --hash= to each pinned requirement"),
    ("--use-feature=truststore", "pip[0]: option --use-feature is not supported (got '--use-feature=truststore'). "
                                 "Fix: remove it: mlenv resolves and installs packages itself, so pip features do not apply"),
    ("--global-option=--no-user-cfg", f"pip[0]: option --global-option is not supported (got '--global-option=--no-user-cfg'). {BUILD_FIX}"),
    ("six==1.16.0 --config-settings=x=y", f"pip[0]: option --config-settings is not supported (got '--config-settings=x=y'). {BUILD_FIX}"),
    ("-e .", f"pip[0]: editable installs (-e/--editable) are not supported (got '-e'). {WHEEL_FIX}"),
    ("--editable=git+https://github.com/org/pkg#egg=pkg", "pip[0]: editable installs (-e/--editable) are not supported "
                                                          f"(got '--editable=git+https://github.com/org/pkg#egg=pkg'). {WHEEL_FIX}"),
])
def test_unsupported_options(line, headline):
    assert error([line]).headline == headline


@pytest.mark.parametrize("lines, headline", [
    pytest.param(["--extra-index https://x.example/simple"],
                 "pip[0]: unknown option --extra-index (got '--extra-index'). Fix: remove it (did you mean --extra-index-url?); "
                 "requirement lines may use -r, -c, -i/--index-url, --extra-index-url, -f/--find-links and --hash",
                 id="unknown_option_suggests_the_close_one"),
    pytest.param(["six -i https://x.example/simple"],
                 "pip[0]: option --index-url cannot follow a requirement on the same line (got '-i'). Fix: put --index-url on a line of its own",
                 id="option_after_a_requirement"),
    pytest.param(["six", "-r"], "pip[1]: option -r needs a value (got '-r'). Fix: write -r <value>",
                 id="option_without_its_value"),
    pytest.param(["--index-url https://a.example/simple six"],
                 "pip[0]: unexpected 'six' among the options (got '--index-url https://a.example/simple six'). "
                 "Fix: write one requirement per line, before its --hash options",
                 id="stray_word_among_options"),
    pytest.param(["-r 'base.txt"],
                 "pip[0]: cannot split the options: No closing quotation (got \"-r 'base.txt\"). Fix: close the quote, or remove the stray backslash",
                 id="unbalanced_quote_in_options"),
])
def test_malformed_option_lines(lines, headline):
    assert error(lines).headline == headline


# --- hashes --------------------------------------------------------------------------------------

def test_several_hashes_of_each_algorithm_are_kept_sorted_and_lowercase():
    spec = parse_lines([f"Six==1.16.0 --hash=sha512:{HEX * 2} --hash=sha256:{HEX.upper()} --hash sha384:{HEX[:48] * 2}",
                        f"six==1.16.0; python_version < '3.12' --hash=sha256:{'f' * 64}"], FIXTURES)
    assert spec.hashes == (("six", (f"sha256:{HEX}", f"sha256:{'f' * 64}", f"sha384:{HEX[:48] * 2}", f"sha512:{HEX * 2}")),)


def test_hash_with_another_algorithm():
    assert error([f"six==1.16.0 --hash=md5:{HEX[:32]}"]).headline == (
        f"pip[0]: --hash must use sha256, sha384 or sha512 (got 'md5:{HEX[:32]}'). {HASH_FIX}")


@pytest.mark.parametrize("digest", [HEX[:63], HEX + "0", HEX[:63] + "g", ""])
def test_hash_with_bad_hex(digest):
    assert error([f"six==1.16.0 --hash=sha256:{digest}"]).headline == (
        f"pip[0]: --hash sha256 must be 64 hexadecimal digits (got 'sha256:{digest}'). {HASH_FIX}")


@pytest.mark.parametrize("requirement", ["six", "six>=1.16", "six==1.*", "six==1.16.0,!=1.16.1"])
def test_hash_on_an_unpinned_requirement(requirement):
    assert error([f"{requirement} --hash=sha256:{HEX}"]).headline == (
        f"pip[0]: --hash needs an exact version, and six is not pinned with == (got {requirement!r}). "
        "Fix: pin it (six==<version>), as pip requires for hash checking")


def test_hash_without_a_requirement():
    assert error([f"--hash=sha256:{HEX}"]).headline == (
        f"pip[0]: --hash must follow a requirement on the same line (got '--hash=sha256:{HEX}'). "
        "Fix: write name==version --hash=sha256:<hex> on one line")


def test_hashes_in_a_constraints_file_count(tmp_path):
    write(tmp_path, "c.txt", f"idna==3.7 \\\n    --hash=sha256:{HEX}\n")
    assert parse_lines(["-c c.txt", "requests"], tmp_path).hashes == (("idna", (f"sha256:{HEX}",)),)


# --- requirements --------------------------------------------------------------------------------

def test_markers_and_extras_are_kept_on_the_requirement():
    (requirement,) = parse_lines(['Requests[socks,security] >= 2.31 ; sys_platform == "linux"'], FIXTURES).requirements
    assert requirement.name == "Requests" and requirement.extras == {"socks", "security"}
    assert str(requirement.marker) == 'sys_platform == "linux"'


@pytest.mark.parametrize("text", ["numpy=>1", "numpy ==", "numpy[", "numpy; os_name ==", "numpy==1.0 ]", "numpy (>=1"])
def test_invalid_requirement(text):
    try:
        Requirement(text)
    except InvalidRequirement as err:
        expected = f"pip[0]: invalid requirement: {err} (got {text!r}). {PEP508_FIX}"
    assert error([text]).headline == expected


def test_duplicate_names_after_canonicalization():
    assert error(["scikit_learn>=1.4", "six", "Scikit.Learn==1.5.1"]).headline == (
        "pip: scikit-learn is listed twice ('scikit_learn>=1.4' and 'Scikit.Learn==1.5.1'). Fix: merge them into one requirement")


def test_duplicates_across_an_include(tmp_path):
    write(tmp_path, "base.txt", "numpy>=1.26\n")
    write(tmp_path, "requirements.txt", "-r base.txt\nNumPy==1.26.4\n")
    assert file_error(tmp_path / "requirements.txt").problem == "numpy is listed twice ('numpy>=1.26' and 'NumPy==1.26.4')"


def test_the_same_name_under_different_markers_is_fine():
    spec = parse_lines(['numpy==1.26.4; python_version < "3.12"', 'numpy==2.1.0; python_version >= "3.12"'], FIXTURES)
    assert len(spec.requirements) == 2


def test_environment_variables_in_a_requirement_line_are_refused_with_the_reason(tmp_path):
    from mlenv.definition.requirements import parse_lines

    with pytest.raises(SpecError) as caught:
        parse_lines(["torch==${TORCH_VERSION}"], tmp_path)
    assert caught.value.headline == ("pip[0]: environment variables are not expanded in requirement lines (only in index URLs): the definition must mean the same "
                                     "on every machine (got 'torch==${TORCH_VERSION}'). Fix: write the version itself, e.g. torch==2.3.1")


# --- inline list items ---------------------------------------------------------------------------

@pytest.mark.parametrize("items, headline", [
    (["six", 1.5], "pip[1]: must be a string (a requirements-file line) (got 1.5). Fix: quote the value, e.g. \"six==1.16.0\""),
    ([None], "pip[0]: must be a string (a requirements-file line). Fix: quote the value, e.g. \"six==1.16.0\""),
    (["six", "  "], "pip[1]: is empty (got '  '). Fix: remove the item, or write a non-empty requirement such as six==1.16.0"),
    (["six\nnumpy"], "pip[0]: holds several lines (got 'six\\nnumpy'). Fix: give one requirement-file line per list item"),
    (["six==1 \\"], "pip[0]: ends with a line continuation (\\), but list items are lines of their own (got 'six==1 \\\\'). "
                    "Fix: write the whole line in one item"),
])
def test_bad_list_items(items, headline):
    assert error(items).headline == headline


def test_lines_must_be_a_list():
    assert error("six==1.16.0").headline == (
        "pip: must be a list of requirement lines (got 'six==1.16.0'). Fix: write pip: [numpy==1.26.4, requests] or pip: requirements.txt")


def test_the_origin_names_the_field():
    assert error(["numpy=>1"], origin="conda_file.dependencies[3].pip").where == "conda_file.dependencies[3].pip[0]"
