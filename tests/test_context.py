"""The build-context digest: what Docker sends, nothing that does not change the image."""

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

from mlenv import context as context_module
from mlenv.context import MAX_DOCKERFILE_BYTES, BuildContext, context_entries, hash_context, read_dockerfile
from mlenv.errors import SpecError

DOCKERFILE = "FROM python:3.11-slim\nCOPY . /app\nRUN /app/scripts/run.sh\n"
DOCKERIGNORE = "# build outputs\n**/*.pyc\ndata/\n!data/keep.csv\n*.md\n!README.md\n/build\n"
TREE = {
    "Dockerfile": DOCKERFILE,
    ".dockerignore": DOCKERIGNORE,
    "src/app/__init__.py": "",
    "src/app/main.py": "print('hello')\n",
    "src/app/__pycache__/main.cpython-311.pyc": "\x00compiled",
    "src/build/keep.py": "KEEP = 1\n",
    "data/keep.csv": "a,b\n1,2\n",
    "data/raw.csv": "x,y\n" * 100,
    "data/sub/big.parquet": "P" * 1000,
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "README.md": "# readme\n",
    "NOTES.md": "notes\n",
    "docs/guide.md": "guide\n",
    "build/out.txt": "output\n",
    "top.pyc": "\x00top",
}


def write_tree(root: Path, files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for rel in executable:
        (root / rel).chmod(0o755)
    return root


@pytest.fixture
def ctx(tmp_path) -> Path:
    """A realistic context: sources, data, an executable script, bytecode, docs."""
    return write_tree(tmp_path / "ctx", TREE, executable=("scripts/run.sh",))


def digest(path: Path, dockerfile: str = "Dockerfile") -> str:
    return hash_context(path, dockerfile).digest


def paths(path: Path, dockerfile: str = "Dockerfile") -> list[str]:
    return [entry[0] for entry in context_entries(path, dockerfile)]


def headline(call) -> str:
    with pytest.raises(SpecError) as info:
        call()
    return info.value.headline


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
    assert read_dockerfile(context) == DOCKERFILE
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


# --- errors ---------------------------------------------------------------------------------------

def test_missing_context(tmp_path):
    missing = tmp_path / "nope"
    assert headline(lambda: hash_context(missing)) == (
        f"build.path: the build context directory does not exist (got {str(missing)!r}). "
        "Fix: set build.path to a directory, relative to the definition file")


@pytest.mark.parametrize("path", ["", None, "ctx\0x"])
def test_context_path_not_a_path(path):
    shown = f" (got {path!r})" if path is not None else ""
    assert headline(lambda: hash_context(path)) == (
        f"build.path: must be the path of a directory{shown}. Fix: write build: {{path: ./context}}")


def test_invalid_ignore_pattern(ctx):
    (ctx / ".dockerignore").write_text("[z-a]\n")
    assert headline(lambda: hash_context(ctx)) == (
        "build.path: .dockerignore has a pattern that is not a valid glob (bad character range z-a) "
        "(got '.dockerignore'). Fix: fix or remove the pattern (Docker refuses it too)")


def test_context_is_a_file(tmp_path):
    file = write_tree(tmp_path, {"Dockerfile": "FROM a\n"}) / "Dockerfile"
    assert headline(lambda: hash_context(file)) == (
        f"build.path: the build context is not a directory (got {str(file)!r}). "
        "Fix: set build.path to the directory holding the Dockerfile and the files it copies")


@pytest.mark.parametrize("dockerfile", ["../Dockerfile", "/etc/Dockerfile", "docker/../../Dockerfile", ".."])
def test_dockerfile_outside_the_context(ctx, dockerfile):
    assert headline(lambda: hash_context(ctx, dockerfile)) == (
        f"build.dockerfile_path: the Dockerfile must be inside the build context (got {dockerfile!r}). "
        "Fix: move the Dockerfile into build.path and give its path relative to it, e.g. Dockerfile or docker/Dockerfile")


def test_dockerfile_through_a_symlinked_directory_outside(ctx, tmp_path):
    write_tree(tmp_path / "outside", {"Dockerfile": "FROM a\n"})
    (ctx / "ext").symlink_to(tmp_path / "outside")
    assert "the Dockerfile must be inside the build context (got 'ext/Dockerfile')" in headline(
        lambda: hash_context(ctx, "ext/Dockerfile"))


@pytest.mark.parametrize("dockerfile", ["", "  ", 3, "Docker\0file"])
def test_dockerfile_path_not_a_path(ctx, dockerfile):
    assert headline(lambda: hash_context(ctx, dockerfile)) == (
        f"build.dockerfile_path: must be the Dockerfile's path relative to the build context (got {dockerfile!r}). "
        "Fix: write dockerfile_path: Dockerfile")


def test_missing_dockerfile_names_the_top_level(tmp_path):
    root = write_tree(tmp_path / "c", {"Dockerfile.dev": "FROM a\n", ".dockerignore": "", "src/a.py": "a"})
    assert headline(lambda: hash_context(root)) == (
        f"build.dockerfile_path: there is no Dockerfile at this path in the build context {root}; "
        "its top level holds: .dockerignore, Dockerfile.dev, src/ (got 'Dockerfile'). "
        "Fix: set build.dockerfile_path to the Dockerfile's path relative to build.path")


def test_missing_dockerfile_in_a_crowded_context(tmp_path):
    root = write_tree(tmp_path / "c", {f"file{index}.txt": "x" for index in range(12)})
    assert headline(lambda: hash_context(root, "docker/Dockerfile")) == (
        f"build.dockerfile_path: there is no Dockerfile at this path in the build context {root}; "
        "its top level holds 12 entries (got 'docker/Dockerfile'). "
        "Fix: set build.dockerfile_path to the Dockerfile's path relative to build.path")


def test_missing_dockerfile_in_an_empty_context(tmp_path):
    (tmp_path / "c").mkdir()
    assert "the build context " + str(tmp_path / "c") + "; the context is empty (got 'Dockerfile')" in headline(
        lambda: hash_context(tmp_path / "c"))


def test_missing_dockerfile_under_a_file(ctx):
    assert "there is no Dockerfile at this path" in headline(lambda: hash_context(ctx, "README.md/Dockerfile"))


def test_dockerfile_is_a_directory(ctx):
    assert headline(lambda: hash_context(ctx, "src")) == (
        "build.dockerfile_path: the Dockerfile path is not a file (got 'src'). "
        "Fix: set build.dockerfile_path to the Dockerfile itself, e.g. docker/Dockerfile")


def test_dockerfile_too_big(ctx):
    (ctx / "Dockerfile").write_text("#" * (MAX_DOCKERFILE_BYTES + 1))
    expected = (
        f"build.dockerfile_path: the Dockerfile 'Dockerfile' is over the limit of {MAX_DOCKERFILE_BYTES} bytes "
        f"(got {MAX_DOCKERFILE_BYTES + 1}). "
        "Fix: keep the Dockerfile to instructions: put scripts and data in files of the context and COPY them")
    assert headline(lambda: hash_context(ctx)) == expected
    (ctx / "Dockerfile").write_text("#" * MAX_DOCKERFILE_BYTES)
    context = hash_context(ctx)
    (ctx / "Dockerfile").write_text("#" * (MAX_DOCKERFILE_BYTES + 1))
    assert headline(lambda: read_dockerfile(context)) == expected


def test_dockerfile_not_utf8(ctx):
    (ctx / "Dockerfile").write_bytes(b"FROM a\n# caf\xe9\n")
    context = hash_context(ctx)
    assert headline(lambda: read_dockerfile(context)) == (
        "build.dockerfile_path: the Dockerfile is not UTF-8 text (bad byte at offset 12) (got 'Dockerfile'). "
        "Fix: save the Dockerfile as UTF-8")


def test_read_dockerfile_drops_a_bom(ctx):
    (ctx / "Dockerfile").write_bytes(b"\xef\xbb\xbfFROM a\n")
    assert read_dockerfile(hash_context(ctx)) == "FROM a\n"


def test_unreadable_file(ctx, monkeypatch):
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if str(path).endswith("src/app/main.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(context_module, "open", guarded_open, raising=False)
    assert headline(lambda: hash_context(ctx)) == (
        "build.path: cannot read a file of the build context (Permission denied) (got 'src/app/main.py'). "
        "Fix: make it readable, or list it in .dockerignore if the image does not need it")


def test_unreadable_directory(ctx, monkeypatch):
    real_listdir = os.listdir

    def guarded_listdir(path):
        if str(path).endswith("src/app"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", guarded_listdir)
    assert headline(lambda: hash_context(ctx)) == (
        "build.path: cannot read a file of the build context (Permission denied) (got 'src/app'). "
        "Fix: make it readable, or list it in .dockerignore if the image does not need it")


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside.txt", "app/../../../outside.txt", "../../ctx/README.md"])
def test_symlink_outside_the_context(ctx, target):
    (ctx / "src/link").symlink_to(target)
    assert headline(lambda: hash_context(ctx)) == (
        f"build.path: the symlink 'src/link' points outside the build context (got {target!r}). "
        "Fix: copy the target into the context and link to it with a relative path, or list the link in .dockerignore")


def test_context_over_the_size_limit_names_the_five_biggest(tmp_path):
    sizes = {"a.bin": 600, "b/b.bin": 2048, "c.bin": 100, "d.bin": 1500, "e.bin": 50, "f.bin": 10}
    root = write_tree(tmp_path / "c", {"Dockerfile": "FROM a\n", **{rel: "x" * size for rel, size in sizes.items()}})
    assert hash_context(root, size_limit=7 + sum(sizes.values())).size == 7 + sum(sizes.values())
    assert headline(lambda: hash_context(root, size_limit=4000)) == (
        "build.path: the build context holds 4.2 KB of files, over the limit of 3.9 KB; "
        "the biggest: b/b.bin (2.0 KB), d.bin (1.5 KB), a.bin (600 B), c.bin (100 B), e.bin (50 B) "
        f"(got {str(root)!r}). Fix: list what the image does not need in .dockerignore, or raise MLENV_CONTEXT_LIMIT_MB")


def test_size_limit_counts_only_included_files(ctx):
    included = hash_context(ctx).size
    assert hash_context(ctx, size_limit=included).size == included
    with pytest.raises(SpecError):
        hash_context(ctx, size_limit=included - 1)


def test_size_limit_from_the_environment(ctx, monkeypatch):
    monkeypatch.setenv("MLENV_CONTEXT_LIMIT_MB", "0.0001")  # 104 bytes
    assert "over the limit of 104 B" in headline(lambda: hash_context(ctx))
    assert "over the limit of 104 B" in headline(lambda: context_entries(ctx))
    monkeypatch.setenv("MLENV_CONTEXT_LIMIT_MB", "1")
    assert hash_context(ctx).files == 9


@pytest.mark.parametrize("value", ["lots", "-5", "0", "nan", "inf"])
def test_bad_size_limit_in_the_environment(ctx, monkeypatch, value):
    monkeypatch.setenv("MLENV_CONTEXT_LIMIT_MB", value)
    assert headline(lambda: hash_context(ctx)) == (
        f"MLENV_CONTEXT_LIMIT_MB: must be a positive number of megabytes (got {value!r}). "
        "Fix: set it to e.g. 2048, or unset it for the 1024 MB default")


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
