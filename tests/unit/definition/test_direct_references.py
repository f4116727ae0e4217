"""Direct references as pip reads them: `name @ URL` for a wheel, an sdist archive or a git repository,
the unnamed spellings pip accepts (a wheel file name, `#egg=`), their place in the definition hash,
and one exact SpecError for each thing refused. An identical line written twice is one requirement."""

from __future__ import annotations

import pytest

from mlenv.definition.load import from_mapping
from mlenv.identity.canonical import canonical_requirement
from mlenv.identity.hashing import definition_hash
from tests.requirement_files import error, write
from mlenv.definition.requirements import parse_file, parse_lines

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def requirements(lines, base=None):
    return [canonical_requirement(r) for r in parse_lines(lines, base or ".").requirements]


@pytest.mark.parametrize("line, canonical", [
    ("torch @ https://download.pytorch.org/whl/cu121/torch-2.3.1%2Bcu121-cp311-cp311-linux_x86_64.whl",
     "torch @ https://download.pytorch.org/whl/cu121/torch-2.3.1%2Bcu121-cp311-cp311-linux_x86_64.whl"),
    ("https://files.example/tool-1.0-py3-none-any.whl", "tool @ https://files.example/tool-1.0-py3-none-any.whl"),
    ("https://files.example/Tool_Kit-1.0.tar.gz", "tool-kit @ https://files.example/Tool_Kit-1.0.tar.gz"),
    ("archive @ https://github.com/org/archive/archive/refs/tags/v2.zip", "archive @ https://github.com/org/archive/archive/refs/tags/v2.zip"),
    ("git+https://github.com/org/tool@v1.0#egg=tool", "tool @ git+https://github.com/org/tool@v1.0"),
    (f"tool[cli] @ git+https://github.com/org/tool.git@{COMMIT}#subdirectory=py ; python_version < '3.12'",
     f'tool[cli] @ git+https://github.com/org/tool.git@{COMMIT}#subdirectory=py ; python_version < "3.12"'),
    ("tool @ git+ssh://git@github.com/org/tool.git@" + COMMIT, "tool @ git+ssh://git@github.com/org/tool.git@" + COMMIT),
    ("tool @ git+file:///srv/git/tool.git@" + COMMIT, "tool @ git+file:///srv/git/tool.git@" + COMMIT),
])
def test_direct_references_are_requirements_with_their_url(line, canonical):
    assert requirements([line]) == [canonical]


def test_the_url_is_part_of_the_definition_hash():
    def hashed(line):
        return definition_hash(from_mapping({"image": "127.0.0.1:5000/base/python@sha256:" + "0" * 64, "pip": [line]}))

    assert hashed(f"tool @ git+https://github.com/org/tool@{COMMIT}") != hashed("tool @ git+https://github.com/org/tool@" + "1" * 40)
    assert hashed("tool @ https://files.example/tool-1.0.tar.gz") != hashed("tool==1.0")


def test_an_identical_line_twice_is_one_requirement(tmp_path):
    path = write(tmp_path, "requirements.txt", "six==1.16.0\nnumpy>=1.26\nsix == 1.16.0\ntool @ https://files.example/tool-1.0.tar.gz\n"
                                                "tool @ https://files.example/tool-1.0.tar.gz\n")
    assert [canonical_requirement(r) for r in parse_file(path).requirements] == [
        "six==1.16.0", "numpy>=1.26", "tool @ https://files.example/tool-1.0.tar.gz"]
    assert error(["six==1.16.0", "six==1.17.0"]).headline == (
        "pip: six is listed twice ('six==1.16.0' and 'six==1.17.0'). Fix: merge them into one requirement")


def test_a_moving_git_ref_is_warned_about_and_a_commit_is_not():
    spec = parse_lines(["tool @ git+https://github.com/org/tool@main", f"other @ git+https://github.com/org/other@{COMMIT}"], ".")
    assert [w.headline for w in spec.warnings] == [
        "pip[0]: tool follows 'main' of its git repository, which can move: each new lock takes the commit it finds then. "
        "Fix: pin the commit: tool @ git+https://github.com/org/tool@<40-hex commit>"]


def test_a_direct_reference_is_not_reported_unpinned():
    from mlenv.definition.requirement_syntax import has_exact_pin

    assert all(has_exact_pin(r) for r in parse_lines(["tool @ https://files.example/tool-1.0.tar.gz"], ".").requirements)


@pytest.mark.parametrize("line, problem, fix", [
    ("git+https://github.com/org/tool@v1.0", "a git requirement without a package name",
     "name the package: write NAME @ URL (PEP 508), e.g. tool @ git+https://host/org/tool@v1.0"),
    ("https://github.com/org/tool/archive/main.zip", "a git requirement without a package name",
     "name the package: write NAME @ URL (PEP 508), e.g. tool @ git+https://host/org/tool@v1.0"),
    ("tool @ https://github.com/org/tool", "a direct URL must name a wheel, an sdist archive or a git repository",
     "point at a wheel (.whl), an sdist archive (.tar.gz, .zip) or a git repository (git+https://host/repo@rev)"),
    ("other @ https://files.example/tool-1.0-py3-none-any.whl", "the requirement names other, but the file is a tool package",
     "make the name before @ match the file"),
    ("tool @ hg+https://hg.example/tool", "git URLs are not supported in requirements", "use https:// (a wheel or sdist archive) or git+https://"),
    ("tool @ http://files.example/tool-1.0.tar.gz", "plain http is accepted only for localhost: nothing verifies what it serves", "use https://"),
    (f"tool @ git+https://github.com/org/tool@{COMMIT} --hash=sha256:{'0' * 64}", "--hash cannot check a git checkout (pip refuses it too)",
     "remove the --hash and pin the commit (@<40-hex commit>)"),
    ("https://files.example/tool-1.0-py3-none-any.whl[cli]", "extras need the package's name", "write NAME[extra] @ URL"),
])
def test_refused_direct_references(line, problem, fix):
    shown = line.split(" --hash")[0]  # the requirement, without its options
    assert error([line]).headline == f"pip[0]: {problem} (got {shown!r}). Fix: {fix}"


def test_credentials_in_a_direct_reference_are_refused_and_hidden():
    err = error(["tool @ git+https://builder:s3cr3t@git.example/org/tool@v1"])
    assert err.problem == "the URL has credentials written in plain text"
    assert "s3cr3t" not in str(err) and "***" in str(err)


def test_a_url_cannot_be_a_constraint(tmp_path):
    write(tmp_path, "c.txt", "tool @ https://files.example/tool-1.0.tar.gz\n")
    assert error(["-c c.txt"], tmp_path).headline == (
        "pip (c.txt:1): a constraint cannot be a file or URL (got 'tool @ https://files.example/tool-1.0.tar.gz'). "
        "Fix: put the URL in a requirements file; constraints hold names and versions")
