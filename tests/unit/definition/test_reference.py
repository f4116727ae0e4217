"""Image references and repositories: parsed, or one error with the fix."""

import pytest

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.reference import parse_reference, parse_repository

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, host, path, tag, digest",
    [
        ("127.0.0.1:5000/base/python:3.11-bookworm", "127.0.0.1:5000", "base/python", "3.11-bookworm", None),
        (f"ghcr.io/org/env@{DIGEST}", "ghcr.io", "org/env", None, DIGEST),
        ("localhost/envs/x", "localhost", "envs/x", None, None),
        ("oci:/tmp/layout:v1", None, "/tmp/layout", "v1", None),
        ("oci:.mlenv/images", None, ".mlenv/images", None, None),
    ],
)
def test_references_parse(text, host, path, tag, digest):
    ref = parse_reference(text)
    assert (ref.host, ref.path, ref.tag, ref.digest) == (host, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text, fix",
    [
        ("python:3.11", "must start with a registry host"),
        ("example.org/Base/Python", "lowercase"),
        ("example.org/x@sha256:abc", "64 lowercase hex"),
        ("oci:", "needs a directory"),
    ],
)
def test_bad_references_explain(text, fix):
    with pytest.raises(SpecError, match=fix):
        parse_reference(text)


def test_repository_refuses_a_tag():
    with pytest.raises(SpecError, match="takes no tag"):
        parse_repository("example.org/envs/x:latest")
