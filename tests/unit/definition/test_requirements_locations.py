"""Where a requirements list draws from: included requirement and constraint files (and the committed
fixture shaped like a real project's), index and --find-links options with their credentials, local
wheels and the other locations a line may name; what is kept, and one exact SpecError per rule."""

from __future__ import annotations

import hashlib

import pytest
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mlenv.diagnostics.errors import SpecError, SpecWarning
from mlenv.definition.requirements import PrivateWheel, parse_file, parse_lines
from tests.requirement_files import FIXTURES, HEX, WHEEL, WHEEL_FIX, error, file_error, write
from testbed.wheelmaker import make_wheel

INCLUDE_FIX = "Fix: check the path; it is relative to the file (or definition) that names it"
CREDENTIALS_FIX = ("Fix: keep secrets out of the definition: write a ${INDEX_TOKEN} placeholder in their place (pip and mlenv "
                   "expand it from the environment at build time), or set PIP_INDEX_URL / MLENV_INDEX_URL in the environment")


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


# --- includes ------------------------------------------------------------------------------------

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
