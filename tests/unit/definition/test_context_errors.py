"""The build context refused, with one exact SpecError each: missing or misplaced contexts and
Dockerfiles, unreadable files, symlinks leading out, bad ignore patterns, and the size limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlenv import digests as digests_module
from mlenv.definition.build_context import MAX_DOCKERFILE_BYTES, hash_context
from mlenv.diagnostics.errors import SpecError
from tests.context_trees import realistic_context, write_tree


@pytest.fixture
def ctx(tmp_path) -> Path:
    return realistic_context(tmp_path)


def headline(call) -> str:
    with pytest.raises(SpecError) as info:
        call()
    return info.value.headline


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
    assert hash_context(ctx).dockerfile_text == "#" * MAX_DOCKERFILE_BYTES


def test_dockerfile_not_utf8_fails_when_loaded(ctx):
    """Refused with the definition (in preview), not when the build starts."""
    (ctx / "Dockerfile").write_bytes(b"FROM a\n# caf\xe9\n")
    assert headline(lambda: hash_context(ctx)) == (
        "build.dockerfile_path: the Dockerfile is not UTF-8 text (bad byte at offset 12) (got 'Dockerfile'). "
        "Fix: save the Dockerfile as UTF-8")


def test_the_dockerfile_text_drops_a_bom(ctx):
    (ctx / "Dockerfile").write_bytes(b"\xef\xbb\xbfFROM a\n")
    assert hash_context(ctx).dockerfile_text == "FROM a\n"


def test_unreadable_file(ctx, monkeypatch):
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if str(path).endswith("src/app/main.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(digests_module, "open", guarded_open, raising=False)  # the one file reader
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
    assert "over the limit of 104 B" in headline(lambda: hash_context(ctx))
    monkeypatch.setenv("MLENV_CONTEXT_LIMIT_MB", "1")
    assert hash_context(ctx).files == 9


@pytest.mark.parametrize("value", ["lots", "-5", "0", "nan", "inf"])
def test_bad_size_limit_in_the_environment(ctx, monkeypatch, value):
    monkeypatch.setenv("MLENV_CONTEXT_LIMIT_MB", value)
    assert headline(lambda: hash_context(ctx)) == (
        f"MLENV_CONTEXT_LIMIT_MB: must be a positive number of megabytes (got {value!r}). "
        "Fix: set it to e.g. 2048, or unset it for the 1024 MB default")
