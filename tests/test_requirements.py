"""pip requirements files and inline requirement lines: what is kept, and one exact SpecError per rule."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mlenv.errors import SpecError, SpecWarning
from mlenv.requirements import PipSpec, PrivateWheel, merge, parse_file, parse_lines
from tests.wheelmaker import make_wheel

FIXTURES = Path(__file__).parent / "fixtures" / "definitions" / "requirements"
WHEEL = FIXTURES / "wheels" / "acme_features-0.3.1-py3-none-any.whl"
HEX = "0123456789abcdef" * 4
WHEEL_FIX = "Fix: build a wheel (pip wheel --no-deps --wheel-dir wheels <path>) and reference the .whl"
PEP508_FIX = "Fix: write it as name, name==version or name>=x,<y (PEP 508)"
HASH_FIX = "Fix: copy the value from pip hash <file> or pip-compile --generate-hashes, e.g. --hash=sha256:<64 hex digits>"
INCLUDE_FIX = "Fix: check the path; it is relative to the file (or definition) that names it"
CREDENTIALS_FIX = ("Fix: keep secrets out of the definition: write a ${INDEX_TOKEN} placeholder in their place (pip and mlenv "
                   "expand it from the environment at build time), or set PIP_INDEX_URL / MLENV_INDEX_URL in the environment")


def error(lines, base: Path | None = None, origin: str = "pip") -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_lines(lines, base or FIXTURES, origin)
    return caught.value


def file_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_file(path)
    return caught.value


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the committed fixture, shaped like a real project's files ---------------------------------

def test_fixture_requirements_file_keeps_everything_it_declares():
    spec = parse_file(FIXTURES / "requirements.txt")
    assert [str(r) for r in spec.requirements] == [
        "numpy<2,>=1.26", "pandas==2.2.2", "scikit-learn~=1.5.0", "PyYAML>=6.0",  # from -r base.txt, in place
        "certifi==2024.7.4", "charset-normalizer==3.3.2", "idna==3.7", "requests==2.32.3",
        'nvidia-nccl-cu12==2.20.5; platform_machine == "x86_64" and sys_platform == "linux"',
        'tomli>=2.0.1; python_version < "3.11"',
    ]
    assert str(spec.requirements[-1].marker) == 'python_version < "3.11"'
    assert [str(r) for r in spec.constraints] == ["urllib3<3,>=2.2.2", "setuptools>=70.0.0", "Jinja2>=3.1.4"]
    assert dict(spec.hashes)["requests"] == (
        "sha256:55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760",
        "sha256:70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
    )
    assert [name for name, _ in spec.hashes] == ["certifi", "charset-normalizer", "idna", "requests"]
    assert spec.index_url is None
    assert spec.extra_index_urls == ("https://${ACME_FEED_USER}:${ACME_FEED_TOKEN}@pkgs.acme.example/pypi/simple/",)
    assert spec.wheels == (PrivateWheel("acme-features", "0.3.1", WHEEL.name, str(WHEEL.resolve()), hashlib.sha256(WHEEL.read_bytes()).hexdigest()),)


def test_fixture_partial_hashes_are_a_warning_not_an_error():
    (warning,) = parse_file(FIXTURES / "requirements.txt").warnings
    assert isinstance(warning, SpecWarning)
    assert warning.headline == ("pip: only some requirements have --hash values; numpy, nvidia-nccl-cu12, pandas, pyyaml, scikit-learn, "
                                "tomli will install unchecked. Fix: add --hash= to every requirement (pip-compile --generate-hashes writes them all)")


def test_an_include_reached_twice_is_read_once():
    spec = parse_file(FIXTURES / "requirements-dev.txt")
    names = [r.name for r in spec.requirements]
    assert names.count("numpy") == 1
    assert names[-2:] == ["pytest", "pytest-cov"]


def test_inline_lines_include_relative_to_the_definition_folder():
    spec = parse_lines(["-r requirements.txt", "  # a comment item", "pytest==8.3.2"], FIXTURES, origin="conda pip")
    assert [r.name for r in spec.requirements][-1] == "pytest"
    assert spec.wheels[0].path == str(WHEEL.resolve())
    assert len(spec.constraints) == 3


def test_errors_inside_an_included_file_name_that_file_and_line(tmp_path):
    write(tmp_path, "sub/base.txt", "six\n\nnumpy=>1\n")
    err = error(["-r sub/base.txt"], tmp_path, origin="conda pip")
    assert err.where == "conda pip (sub/base.txt:3)"


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


@pytest.mark.parametrize("line", ["-r base.txt", "--requirement base.txt", "--requirement=base.txt", "-rbase.txt", "-r 'base.txt'"])
def test_every_spelling_of_an_include(line):
    assert [r.name for r in parse_lines([line], FIXTURES).requirements] == ["numpy", "pandas", "scikit-learn", "PyYAML"]


@pytest.mark.parametrize("line", ["-c constraints.txt", "--constraint constraints.txt", "--constraint=constraints.txt"])
def test_constraints_files_go_to_constraints(line):
    spec = parse_lines([line], FIXTURES)
    assert spec.requirements == () and [c.name for c in spec.constraints] == ["urllib3", "setuptools", "Jinja2"]


def test_include_inside_a_constraints_file_stays_a_constraint(tmp_path):
    write(tmp_path, "c.txt", "-r more.txt\nurllib3<2\n")
    write(tmp_path, "more.txt", "idna<4\n")
    spec = parse_lines(["-c c.txt", "requests"], tmp_path)
    assert [r.name for r in spec.constraints] == ["idna", "urllib3"] and [r.name for r in spec.requirements] == ["requests"]


# --- includes: errors ----------------------------------------------------------------------------

def test_include_cycle(tmp_path):
    write(tmp_path, "a.txt", "six\n-r b.txt\n")
    write(tmp_path, "b.txt", "# loops back\n-r a.txt\n")
    assert file_error(tmp_path / "a.txt").headline == (
        "pip (b.txt:2): include cycle: a.txt -> b.txt -> a.txt (got 'a.txt'). "
        "Fix: remove the -r/-c line that leads back to a file including it")


def test_a_file_including_itself(tmp_path):
    write(tmp_path, "a.txt", "-r ./a.txt\n")
    assert file_error(tmp_path / "a.txt").problem == "include cycle: a.txt -> a.txt"


def test_missing_include_names_the_path(tmp_path):
    err = error(["six", "-r missing.txt"], tmp_path)
    assert err.headline == f"pip[1]: requirements file {tmp_path / 'missing.txt'} does not exist (got 'missing.txt'). {INCLUDE_FIX}"


def test_missing_top_level_file(tmp_path):
    err = file_error(tmp_path / "nope.txt")
    assert err.headline == f"pip: requirements file {tmp_path / 'nope.txt'} does not exist (got '{tmp_path / 'nope.txt'}'). {INCLUDE_FIX}"


def test_include_of_a_directory(tmp_path):
    (tmp_path / "reqs").mkdir()
    assert error(["-r reqs"], tmp_path).headline == f"pip[0]: {tmp_path / 'reqs'} is not a requirements file (not a regular file) (got 'reqs'). {INCLUDE_FIX}"


def test_file_that_is_not_utf8(tmp_path):
    (tmp_path / "r.txt").write_bytes(b"six\n\xff\xfe\x00numpy\n")
    assert file_error(tmp_path / "r.txt").headline == f"pip: requirements file {tmp_path / 'r.txt'} is not UTF-8 text (got '{tmp_path / 'r.txt'}'). Fix: save it as UTF-8"


def test_remote_include():
    assert error(["-r https://u:hunter2@example.com/req.txt"]).headline == (
        "pip[0]: remote requirement files are not supported (got 'https://u:***@example.com/req.txt'). "
        "Fix: download it next to the definition and include it by path")


def test_parse_file_rejects_a_non_path():
    with pytest.raises(SpecError) as caught:
        parse_file(3)  # type: ignore[arg-type]
    assert caught.value.headline == "pip: must be the path of a requirements file (got 3). Fix: write pip: requirements.txt"


# --- index options -------------------------------------------------------------------------------

def test_index_options_are_kept_as_written(tmp_path):
    (tmp_path / "wheelhouse").mkdir()
    spec = parse_lines([
        "-i https://pypi.example/simple/",
        "--index-url=https://pypi.example/simple",  # the same index again: fine
        "--extra-index-url https://${FEED_TOKEN}@pkgs.example/simple",
        "--extra-index-url https://__token__:${GITLAB_TOKEN}@gitlab.example/api/v4/projects/1/packages/pypi/simple",
        "-f wheelhouse",
        "--find-links https://download.example/whl/cu121/torch_stable.html",
        "--find-links http://localhost:8080/links/",
    ], tmp_path)
    assert spec.index_url == "https://pypi.example/simple/"
    assert spec.extra_index_urls == ("https://${FEED_TOKEN}@pkgs.example/simple",
                                     "https://__token__:${GITLAB_TOKEN}@gitlab.example/api/v4/projects/1/packages/pypi/simple")
    assert spec.find_links == (str(tmp_path / "wheelhouse"), "https://download.example/whl/cu121/torch_stable.html", "http://localhost:8080/links/")


def test_find_links_relative_to_the_file_that_names_it(tmp_path):
    (tmp_path / "deps" / "wheelhouse").mkdir(parents=True)
    write(tmp_path, "deps/req.txt", "--find-links ./wheelhouse\n")
    assert parse_lines(["-r deps/req.txt"], tmp_path).find_links == (str(tmp_path / "deps" / "wheelhouse"),)


def test_find_links_file_url_becomes_a_path(tmp_path):
    assert parse_lines([f"-f {tmp_path.as_uri()}"], FIXTURES).find_links == (str(tmp_path),)


def test_missing_find_links_folder(tmp_path):
    assert error(["-f ./wheelhouse"], tmp_path).headline == (
        f"pip[0]: --find-links folder {tmp_path / 'wheelhouse'} does not exist (got './wheelhouse'). "
        "Fix: create the folder of wheels, or give the https:// URL of a links page")


def test_two_different_index_urls():
    assert error(["--index-url https://a.example/simple", "six", "-i https://b.example/simple"]).headline == (
        "pip[2]: a second, different --index-url (the first is 'https://a.example/simple') (got 'https://b.example/simple'). "
        "Fix: keep one --index-url; add the others with --extra-index-url")


@pytest.mark.parametrize("option", ["--index-url", "--extra-index-url", "--find-links"])
def test_plain_text_password_is_refused_and_never_shown(option):
    err = error([f"{option} https://builder:s3cr3t-PAT@pkgs.example/simple/"])
    assert err.headline == f"pip[0]: {option} has credentials written in plain text (got 'https://builder:***@pkgs.example/simple/'). {CREDENTIALS_FIX}"
    assert "s3cr3t" not in str(err)


def test_a_lone_token_as_user_name_is_a_credential_too():
    err = error(["--extra-index-url https://ghp_abcdef0123456789@pkgs.example/simple/"])
    assert err.value == "https://***@pkgs.example/simple/" and "ghp_" not in str(err)


def test_a_password_in_any_other_message_is_hidden_too():
    err = error(["foo @ https://user:topsecret@files.example/foo-1.0-py3-none-any.whl"])
    assert "topsecret" not in str(err) and "user:***@" in str(err)


def test_plain_http_index_is_refused_off_this_machine():
    assert error(["--extra-index-url http://pypi.internal:8080/simple"]).headline == (
        "pip[0]: --extra-index-url uses plain http, which pip ignores without --trusted-host and which nothing verifies "
        "(got 'http://pypi.internal:8080/simple'). "
        "Fix: serve the index over https:// (for a private CA set SSL_CERT_FILE); plain http is accepted only for localhost")
    assert parse_lines(["-i http://127.0.0.1:3141/simple/"], FIXTURES).index_url == "http://127.0.0.1:3141/simple/"


@pytest.mark.parametrize("url", ["pypi.example/simple", "ftp://pypi.example/simple", "${PIP_INDEX}", "https://", "https://h:99999/s", "https://[::1/s"])
def test_index_url_must_be_http_or_https(url):
    assert error([f"--index-url {url}"]).headline == (
        f"pip[0]: --index-url must be an http:// or https:// URL (got {url!r}). Fix: write --index-url https://host/simple/")


# --- unsupported options -------------------------------------------------------------------------

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


def test_unknown_option_suggests_the_close_one():
    assert error(["--extra-index https://x.example/simple"]).headline == (
        "pip[0]: unknown option --extra-index (got '--extra-index'). Fix: remove it (did you mean --extra-index-url?); "
        "requirement lines may use -r, -c, -i/--index-url, --extra-index-url, -f/--find-links and --hash")


def test_option_after_a_requirement():
    assert error(["six -i https://x.example/simple"]).headline == (
        "pip[0]: option --index-url cannot follow a requirement on the same line (got '-i'). Fix: put --index-url on a line of its own")


def test_option_without_its_value():
    assert error(["six", "-r"]).headline == "pip[1]: option -r needs a value (got '-r'). Fix: write -r <value>"


def test_stray_word_among_options():
    assert error(["--index-url https://a.example/simple six"]).headline == (
        "pip[0]: unexpected 'six' among the options (got '--index-url https://a.example/simple six'). "
        "Fix: write one requirement per line, before its --hash options")


def test_unbalanced_quote_in_options():
    assert error(["-r 'base.txt"]).headline == (
        "pip[0]: cannot split the options: No closing quotation (got \"-r 'base.txt\"). Fix: close the quote, or remove the stray backslash")


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


# --- local wheels and other locations ------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "./wheels/acme_features-0.3.1-py3-none-any.whl",
    "wheels/acme_features-0.3.1-py3-none-any.whl  # vendored",
    str(WHEEL),
    WHEEL.as_uri(),
    f"acme-features @ {WHEEL.as_uri()}",
    "acme_features@file:wheels/acme_features-0.3.1-py3-none-any.whl",
    f"./wheels/acme_features-0.3.1-py3-none-any.whl --hash=sha256:{hashlib.sha256(WHEEL.read_bytes()).hexdigest()}",
    f"./wheels/acme_features-0.3.1-py3-none-any.whl --hash=sha256:{HEX} --hash=sha512:{hashlib.sha512(WHEEL.read_bytes()).hexdigest()}",
])
def test_every_way_to_name_a_local_wheel(line):
    spec = parse_lines([line], FIXTURES)
    assert spec.requirements == ()
    (wheel,) = spec.wheels
    assert (wheel.name, wheel.version, wheel.filename, wheel.path) == ("acme-features", "0.3.1", WHEEL.name, str(WHEEL))
    assert wheel.sha256 == hashlib.sha256(WHEEL.read_bytes()).hexdigest()


def test_wheel_content_is_what_is_hashed(tmp_path):
    make_wheel(tmp_path, "tool", "1.0", {"tool/__init__.py": "x = 1\n"})
    before = parse_lines(["tool-1.0-py3-none-any.whl"], tmp_path).wheels[0].sha256
    make_wheel(tmp_path, "tool", "1.0", {"tool/__init__.py": "x = 2\n"})
    assert parse_lines(["tool-1.0-py3-none-any.whl"], tmp_path).wheels[0].sha256 != before


def test_a_bare_wheel_filename_is_a_path_not_a_name(tmp_path):
    make_wheel(tmp_path, "tool", "1.0", {"tool/__init__.py": ""})
    assert parse_lines(["tool-1.0-py3-none-any.whl"], tmp_path).wheels[0].name == "tool"


def test_missing_wheel(tmp_path):
    assert error(["./wheels/tool-1.0-py3-none-any.whl"], tmp_path).headline == (
        f"pip[0]: wheel file {tmp_path / 'wheels/tool-1.0-py3-none-any.whl'} does not exist "
        f"(got './wheels/tool-1.0-py3-none-any.whl'). {INCLUDE_FIX}")


@pytest.mark.parametrize("filename", ["tool.whl", "tool-1.0.whl", "tool-not.a.version-py3-none-any.whl"])
def test_invalid_wheel_filename(tmp_path, filename):
    (tmp_path / filename).write_bytes(b"PK")
    with pytest.raises(InvalidWheelFilename) as reason:
        parse_wheel_filename(filename)
    assert error([f"./{filename}"], tmp_path).headline == (
        f"pip[0]: invalid wheel filename: {reason.value} (got './{filename}'). "
        "Fix: keep the name pip wheel gave it: name-version-python-abi-platform.whl")


def test_wheel_not_matching_its_hash():
    assert error([f"./wheels/{WHEEL.name} --hash=sha256:{HEX}"]).headline == (
        f"pip[0]: the wheel file does not match its --hash (got './wheels/{WHEEL.name}'). "
        "Fix: update the --hash (pip hash <file>), or reference the file you reviewed")


def test_wheel_under_another_name():
    assert error([f"other @ {WHEEL.as_uri()}"]).headline == (
        f"pip[0]: the requirement names other, but the wheel file is acme-features (got 'other @ {WHEEL.as_uri()}'). "
        "Fix: make the name before @ match the wheel")


@pytest.mark.parametrize("line", [f"./wheels/{WHEEL.name}[cli]", f'./wheels/{WHEEL.name}; python_version < "3.12"',
                                  f"acme-features[cli] @ {WHEEL.as_uri()}"])
def test_wheel_with_extras_or_marker(line):
    assert error([line]).headline == (
        f"pip[0]: a local wheel cannot carry extras or an environment marker (got {line!r}). "
        "Fix: reference the .whl alone; list an extra's packages as requirements of their own")


@pytest.mark.parametrize("line", ["./vendor/tool-1.0.tar.gz", "tool-1.0.zip", ".", "./src", "tool @ file:./src"])
def test_sdists_and_source_directories(tmp_path, line):
    (tmp_path / "src").mkdir()
    assert error([line], tmp_path).headline == (
        f"pip[0]: local source directories and sdists are not supported, only wheels (got {line!r}). {WHEEL_FIX}")


def test_a_path_that_does_not_exist(tmp_path):
    assert error(["./src/tool"], tmp_path).headline == (
        f"pip[0]: looks like a path, but {tmp_path / 'src/tool'} does not exist (got './src/tool'). "
        f"{INCLUDE_FIX}, or write it as name, name==version or name>=x,<y (PEP 508)")


@pytest.mark.parametrize("line", [
    "torch @ https://download.pytorch.org/whl/cu121/torch-2.3.1%2Bcu121-cp311-cp311-linux_x86_64.whl",
    "https://files.example/tool-1.0-py3-none-any.whl",
    "git+https://github.com/org/tool@v1.0#egg=tool",
    "tool @ git+ssh://git@github.com/org/tool.git@v1.0",
])
def test_direct_urls(line):
    shown = line.replace("git@", "***@", 1)  # a user name alone may be a token: hidden too
    assert error([line]).headline == (
        f"pip[0]: direct URL requirements are not supported (got {shown!r}). "
        "Fix: publish it to an index and pin it by version (name==1.2.3), or download the wheel and reference the file")


def test_malformed_file_url():
    assert error(["tool @ file://[broken/tool-1.0-py3-none-any.whl"]).headline == (
        "pip[0]: invalid file: URL: Invalid IPv6 URL (got 'file://[broken/tool-1.0-py3-none-any.whl'). "
        "Fix: write file:///absolute/path, or a path relative to this file")


def test_file_url_on_another_host():
    assert error(["file://fileserver/share/tool-1.0-py3-none-any.whl"]).headline == (
        "pip[0]: a file: URL cannot name another host (got 'file://fileserver/share/tool-1.0-py3-none-any.whl'). "
        "Fix: write file:///absolute/path, or a path relative to this file")


def test_constraints_hold_names_and_versions_only(tmp_path):
    write(tmp_path, "c.txt", "requests[socks]<3\n")
    assert error(["-c c.txt"], tmp_path).headline == (
        "pip (c.txt:1): a constraint cannot have extras (got 'requests[socks]<3'). Fix: write the constraint without them (requests...)")
    write(tmp_path, "c.txt", f"./wheels/{WHEEL.name}\n")
    assert error(["-c c.txt"], tmp_path).headline == (
        f"pip (c.txt:1): a constraint cannot be a file or URL (got './wheels/{WHEEL.name}'). "
        "Fix: reference the .whl from a requirements file; constraints hold names and versions")


def test_a_wheel_and_a_requirement_for_the_same_package():
    assert error(["acme-features==0.3.1", f"./wheels/{WHEEL.name}"]).headline == (
        f"pip: acme-features is listed twice ('acme-features==0.3.1' and '{WHEEL.name}'). Fix: merge them into one requirement")


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


def test_environment_variables_in_a_requirement_line_are_refused_with_the_reason(tmp_path):
    from mlenv.requirements import parse_lines

    with pytest.raises(SpecError) as caught:
        parse_lines(["torch==${TORCH_VERSION}"], tmp_path)
    assert caught.value.headline == ("pip[0]: environment variables are not expanded in requirement lines (only in index URLs): the definition must mean the same "
                                     "on every machine (got 'torch==${TORCH_VERSION}'). Fix: write the version itself, e.g. torch==2.3.1")
