"""The build-context digest: what Docker sends, nothing that does not change the image. Which entries
count, Docker's .dockerignore rules, and independence from how the tree was written; what is refused
(errors and size limits) is in test_context_errors.py."""

from __future__ import annotations

import hashlib
import os
import socket
import tarfile
from pathlib import Path

import pytest
from docker.utils.build import tar as docker_sdk_tar
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.definition.build_context import BuildContext, hash_context
from tests.context_trees import DOCKERFILE, DOCKERIGNORE, TREE, realistic_context, write_tree


def context_entries(path, dockerfile_path: str = "Dockerfile") -> list[tuple]:
    """The sorted entries the context digest covers (see build_context's docstring for their shapes)."""
    return list(hash_context(path, dockerfile_path).entries)


@pytest.fixture
def ctx(tmp_path) -> Path:
    return realistic_context(tmp_path)


def digest(path: Path, dockerfile: str = "Dockerfile") -> str:
    return hash_context(path, dockerfile).digest


def paths(path: Path, dockerfile: str = "Dockerfile") -> list[str]:
    return [entry[0] for entry in context_entries(path, dockerfile)]


# --- what the digest covers ---------------------------------------------------------------------

def test_entries_of_a_realistic_context(ctx):
    entries = {entry[0]: entry[1:] for entry in context_entries(ctx)}
    assert sorted(entries) == [
        ".dockerignore", "Dockerfile", "README.md", "data/keep.csv", "docs/guide.md", "scripts/run.sh",
        "src/app/__init__.py", "src/app/__pycache__", "src/app/main.py", "src/build/keep.py",
    ]
    assert entries["src/app/__pycache__"] == ("dir",)  # emptied by **/*.pyc, still created by COPY
    assert entries["scripts/run.sh"][-1] is True
    assert entries["src/app/main.py"][-1] is False


def test_file_entry_holds_the_content_sha256(ctx):
    entry = dict((e[0], e) for e in context_entries(ctx))["src/app/main.py"]
    assert entry == ("src/app/main.py", "file", hashlib.sha256(b"print('hello')\n").hexdigest(), False)


def test_build_context_fields(ctx):
    context = hash_context(ctx)
    kept = ["Dockerfile", ".dockerignore", "README.md", "data/keep.csv", "docs/guide.md", "scripts/run.sh",
            "src/app/__init__.py", "src/app/main.py", "src/build/keep.py"]
    assert context == BuildContext(str(ctx.resolve()), "Dockerfile", context.digest, len(kept),
                                   sum(len(TREE[rel].encode()) for rel in kept))
    assert context.digest.startswith("sha256:") and len(context.digest) == 7 + 64


def test_entries_match_what_the_docker_sdk_would_send(ctx):
    patterns = [line for line in DOCKERIGNORE.splitlines() if line and not line.startswith("#")]
    with docker_sdk_tar(str(ctx), exclude=patterns, dockerfile=("Dockerfile", None)) as archive:
        with tarfile.open(fileobj=archive) as tar:
            sent = {member.name for member in tar.getmembers() if member.isfile()}
    assert sent == {entry[0] for entry in context_entries(ctx) if entry[1] == "file"}


@pytest.mark.parametrize("change", ["data/raw.csv", "data/sub/big.parquet", "NOTES.md", "top.pyc", "build/out.txt",
                                    "src/app/__pycache__/main.cpython-311.pyc"])
def test_changing_an_ignored_file_keeps_the_digest(ctx, change):
    before = digest(ctx)
    (ctx / change).write_text("changed")
    assert digest(ctx) == before


@pytest.mark.parametrize("change", ["src/app/main.py", "data/keep.csv", "README.md", "docs/guide.md",
                                    "src/build/keep.py", "Dockerfile"])
def test_changing_a_kept_file_changes_the_digest(ctx, change):
    before = digest(ctx)
    (ctx / change).write_text((ctx / change).read_text() + "# changed\n")
    assert digest(ctx) != before


def test_changing_dockerignore_changes_the_digest_even_if_the_set_is_the_same(ctx):
    before = digest(ctx)
    (ctx / ".dockerignore").write_text(DOCKERIGNORE + "# another comment\n")
    assert digest(ctx) != before


def test_chmod_plus_x_changes_the_digest(ctx):
    before = digest(ctx)
    (ctx / "src/app/main.py").chmod(0o755)
    assert digest(ctx) != before
    assert dict((e[0], e[3]) for e in context_entries(ctx) if e[1] == "file")["src/app/main.py"] is True


def test_non_exec_mode_and_mtime_do_not_change_the_digest(ctx):
    (ctx / "src/app/main.py").chmod(0o600)
    before = digest(ctx)
    (ctx / "src/app/main.py").chmod(0o644)
    os.utime(ctx / "src/app/main.py", (1_000_000, 1_000_000))
    os.utime(ctx / "scripts/run.sh", (2_000_000, 2_000_000))
    (ctx / "scripts/run.sh").chmod(0o700)  # still executable
    assert digest(ctx) == before


def test_umask_does_not_change_the_digest(tmp_path):
    digests = []
    for name, mask in (("loose", 0o022), ("tight", 0o077)):
        old = os.umask(mask)
        try:
            root = write_tree(tmp_path / name, TREE)
            (root / "scripts/run.sh").chmod(0o777 & ~mask)
            (root / "empty").mkdir()
        finally:
            os.umask(old)
        digests.append(digest(root))
    assert (tmp_path / "loose/src/app/main.py").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "tight/src/app/main.py").stat().st_mode & 0o777 == 0o600
    assert digests[0] == digests[1]


def test_renaming_a_file_changes_the_digest(ctx):
    before = digest(ctx)
    (ctx / "src/app/main.py").rename(ctx / "src/app/entry.py")
    assert digest(ctx) != before


def test_same_tree_in_two_directories_gives_the_same_digest(tmp_path):
    first = write_tree(tmp_path / "one", TREE, executable=("scripts/run.sh",))
    second = write_tree(tmp_path / "elsewhere/two", dict(reversed(TREE.items())), executable=("scripts/run.sh",))
    assert digest(first) == digest(second)
    assert hash_context(first).path != hash_context(second).path


def test_empty_directory_counts(ctx):
    before = digest(ctx)
    (ctx / "src/app/static").mkdir()
    after = digest(ctx)
    assert after != before
    assert ("src/app/static", "dir") in context_entries(ctx)
    (ctx / "data/empty").mkdir()  # inside an ignored directory
    assert digest(ctx) == after


def test_directory_with_content_has_no_entry_of_its_own(ctx):
    assert "src" not in paths(ctx) and "src/app" not in paths(ctx)


def test_symlink_inside_the_context_counts_by_its_text(ctx):
    (ctx / "src/current").symlink_to("app/main.py")
    (ctx / "src/up").symlink_to("../README.md")
    entries = context_entries(ctx)
    assert ("src/current", "symlink", "app/main.py") in entries
    assert ("src/up", "symlink", "../README.md") in entries
    before = digest(ctx)
    (ctx / "src/current").unlink()
    (ctx / "src/current").symlink_to("app/__init__.py")
    assert digest(ctx) != before


def test_dangling_symlink_inside_counts(ctx):
    (ctx / "later").symlink_to("src/not-yet")
    assert ("later", "symlink", "src/not-yet") in context_entries(ctx)


def test_symlinked_directory_is_not_followed(ctx):
    (ctx / "alias").symlink_to("src")
    assert [p for p in paths(ctx) if p.startswith("alias")] == ["alias"]


def test_ignored_outside_symlink_is_fine(ctx):
    (ctx / "data/external").symlink_to("/etc/hostname")
    assert "data/external" not in paths(ctx)


def test_fifo_counts_and_socket_is_skipped(ctx):
    os.mkfifo(ctx / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(ctx / "sock"))
        entries = context_entries(ctx)
    finally:
        server.close()
    assert ("pipe", "special", "fifo") in entries
    assert "sock" not in [entry[0] for entry in entries]


# --- Docker's ignore rules, through the docker SDK ---------------------------------------------

CASES = [
    ("**/*.pyc", {"top.pyc": False, "src/a/__pycache__/m.pyc": False, "src/a/m.py": True}),
    ("data/\n!data/keep.csv", {"data/keep.csv": True, "data/raw.csv": False, "data/sub/x.csv": False}),
    ("*.md\n!README.md", {"README.md": True, "NOTES.md": False, "docs/guide.md": True}),
    ("/build", {"build/out.txt": False, "src/build/keep.py": True, "build.txt": True}),
    ("build", {"build/out.txt": False, "src/build/keep.py": True}),
    ("**/build", {"build/out.txt": False, "src/build/keep.py": False, "src/builder.py": True}),
    ("docs/*\n!docs/*.md", {"docs/guide.md": True, "docs/img.png": False}),
    ("*/tmp", {"a/tmp/x": False, "tmp/x": True, "a/b/tmp/x": True}),
    ("\ufeffdata", {"data/raw.csv": False, "README.md": True}),  # a leading BOM is dropped
    ("# data\n  \n", {"data/raw.csv": True}),  # comments and blank lines
    ("  data  \n! data/keep.csv", {"data/keep.csv": True, "data/raw.csv": False}),  # spaces trimmed
    ("./data/../data", {"data/raw.csv": False}),  # cleaned like filepath.Clean
    (".", {"README.md": True}),  # "." is ignored, as Docker's reference says
    ("*\n!src", {"src/a/m.py": True, "README.md": False, "data/raw.csv": False}),
    ("data\r\n!data/keep.csv\r\n", {"data/keep.csv": True, "data/raw.csv": False}),  # CRLF files
]


@pytest.mark.parametrize("ignore, expected", CASES, ids=[case[0].split("\n")[0] for case in CASES])
def test_dockerignore_patterns_behave_like_docker(tmp_path, ignore, expected):
    root = write_tree(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": ignore, **{rel: "x" for rel in expected}})
    included = set(paths(root))
    assert {rel: rel in included for rel in expected} == expected


def test_dockerfile_and_dockerignore_always_count(tmp_path):
    root = write_tree(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "Dockerfile\n.dockerignore\n*\n",
                                 "other": "x"})
    assert paths(root) == [".dockerignore", "Dockerfile"]


def test_dockerfile_in_an_ignored_subdirectory_counts(tmp_path):
    root = write_tree(tmp_path, {"docker/Dockerfile": DOCKERFILE, "docker/notes.txt": "n", ".dockerignore": "docker/\n",
                                 "src/a.py": "a"})
    context = hash_context(root, "docker/Dockerfile")
    assert context.dockerfile_path == "docker/Dockerfile"
    assert paths(root, "docker/Dockerfile") == [".dockerignore", "docker/Dockerfile", "src/a.py"]
    assert context.dockerfile_text == DOCKERFILE
    assert hash_context(root, "./docker//Dockerfile") == context


def test_dockerfile_path_selects_which_dockerfile_counts(tmp_path):
    root = write_tree(tmp_path, {"Dockerfile": "FROM a\n", "Dockerfile.gpu": "FROM b\n", ".dockerignore": "Dockerfile*\n"})
    assert paths(root) == [".dockerignore", "Dockerfile"]
    assert paths(root, "Dockerfile.gpu") == [".dockerignore", "Dockerfile.gpu"]


def test_dockerfile_counts_even_if_its_name_is_a_pattern(tmp_path):
    root = write_tree(tmp_path, {"Dockerfile[gpu]": "FROM a\n", ".dockerignore": "*\n", "other": "x"})
    assert paths(root, "Dockerfile[gpu]") == [".dockerignore", "Dockerfile[gpu]"]


def test_symlinked_dockerfile_counts_by_content(tmp_path):
    root = write_tree(tmp_path, {"docker/real.Dockerfile": "FROM a\n", ".dockerignore": "docker\n"})
    (root / "Dockerfile").symlink_to("docker/real.Dockerfile")
    entries = context_entries(root)
    assert ("Dockerfile", "file", hashlib.sha256(b"FROM a\n").hexdigest(), False) in entries
    before = hash_context(root).digest
    (root / "docker/real.Dockerfile").write_text("FROM b\n")
    assert hash_context(root).digest != before


def test_dockerfile_specific_ignore_file_replaces_dockerignore(tmp_path):
    root = write_tree(tmp_path, {"docker/app.Dockerfile": "FROM a\n", "docker/app.Dockerfile.dockerignore": "data\n",
                                 ".dockerignore": "src\n", "src/a.py": "a", "data/d.csv": "d"})
    assert "src/a.py" in paths(root, "docker/app.Dockerfile")
    assert "data/d.csv" not in paths(root, "docker/app.Dockerfile")
    (root / "docker/plain.Dockerfile").write_text("FROM b\n")  # has no ignore file of its own
    assert "src/a.py" not in paths(root, "docker/plain.Dockerfile")
    assert "data/d.csv" in paths(root, "docker/plain.Dockerfile")


def test_matching_is_case_sensitive_as_in_docker(tmp_path):
    """Docker matches case-sensitively and sends BUILD (the docker SDK alone would drop it)."""
    root = write_tree(tmp_path, {"Dockerfile": "FROM a\n", ".dockerignore": "build\n", "BUILD": "bazel", "build/x": "x"})
    assert "BUILD" in paths(root) and "build/x" not in paths(root)


def test_known_deviation_sdk_checks_one_parent_only(tmp_path):
    """Docker's MatchesOrParentMatches drops a/b/tmp/other; the SDK's one-parent check keeps it."""
    root = write_tree(tmp_path, {"Dockerfile": "FROM a\n", ".dockerignore": "**/tmp\n!a/b/tmp/keep\n",
                                 "a/b/tmp/keep": "k", "a/b/tmp/other": "o", "c/tmp/x": "x"})
    included = paths(root)
    assert "a/b/tmp/keep" in included and "c/tmp/x" not in included
    assert "a/b/tmp/other" in included


# --- the digest does not depend on how the tree was written --------------------------------------

DIR_NAMES = st.text(alphabet="abcxyz019_-", min_size=1, max_size=4).map(lambda name: "d" + name)
FILE_NAMES = st.text(alphabet="abcxyz019_.-", min_size=1, max_size=6).map(lambda name: "f" + name)  # some end in .tmp
FILES = st.dictionaries(
    keys=st.tuples(st.lists(DIR_NAMES, max_size=3).map(tuple), FILE_NAMES),
    values=st.tuples(st.binary(max_size=64), st.booleans()),
    min_size=1, max_size=15,
)


def write_random_tree(root: Path, files: dict, order: list, umask: int) -> None:
    old = os.umask(umask)
    try:
        root.mkdir(parents=True)
        (root / "Dockerfile").write_text("FROM scratch\n")
        (root / ".dockerignore").write_text("**/*.tmp\n")
        for key in order:
            dirs, name = key
            content, executable = files[key]
            path = root.joinpath(*dirs, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if executable:
                path.chmod(0o777 & ~umask)
    finally:
        os.umask(old)


@settings(max_examples=100, deadline=None)
@given(files=FILES, data=st.data())
def test_same_random_tree_gives_the_same_digest(tmp_path_factory, files, data):
    base = tmp_path_factory.mktemp("random")
    order = list(files)
    shuffled = data.draw(st.permutations(order))
    write_random_tree(base / "first", files, order, 0o022)
    write_random_tree(base / "second" / "deeper", files, shuffled, 0o077)
    first, second = hash_context(base / "first"), hash_context(base / "second" / "deeper")
    assert first.digest == second.digest
    kept = {"/".join((*dirs, name)) for dirs, name in files if not name.endswith(".tmp")}
    assert {entry[0] for entry in context_entries(base / "first") if entry[1] == "file"} == kept | {"Dockerfile", ".dockerignore"}
    executable = {"/".join((*key[0], key[1])) for key, (_, flag) in files.items() if flag and not key[1].endswith(".tmp")}
    assert {entry[0] for entry in context_entries(base / "second" / "deeper") if entry[1] == "file" and entry[3]} == executable
