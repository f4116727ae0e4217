"""Image references and repositories: parsed, or one error with the fix."""

import pytest

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.reference import is_loopback, parse_reference, parse_repository

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, host, path, tag, digest",
    [
        ("127.0.0.1:5000/base/python:3.11-bookworm", "127.0.0.1:5000", "base/python", "3.11-bookworm", None),
        (f"ghcr.io/org/env@{DIGEST}", "ghcr.io", "org/env", None, DIGEST),
        ("localhost/envs/x", "localhost", "envs/x", None, None),
        ("oci:/tmp/layout:v1", None, "/tmp/layout", "v1", None),
        ("oci:.mlenv/images", None, ".mlenv/images", None, None),
        (f"oci:/tmp/layout@{DIGEST}", None, "/tmp/layout", None, DIGEST),  # an image_ref mlenv printed
        (f"oci:/tmp/layout:v1@{DIGEST}", None, "/tmp/layout", "v1", DIGEST),
    ],
)
def test_references_parse(text, host, path, tag, digest):
    ref = parse_reference(text)
    assert (ref.host, ref.path, ref.tag, ref.digest) == (host, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text, fix",
    [
        ("example.org/Base/Python", "lowercase"),
        ("example.org/x@sha256:abc", "64 lowercase hex"),
        ("oci:", "needs a directory"),
        (f"oci:@{DIGEST}", "needs a directory"),
        ("oci:/tmp/layout@sha256:abc", "64 lowercase hex"),
    ],
)
def test_bad_references_explain(text, fix):
    with pytest.raises(SpecError, match=fix):
        parse_reference(text)


def test_repository_refuses_a_tag():
    with pytest.raises(SpecError, match="takes no tag"):
        parse_repository("example.org/envs/x:latest")
    with pytest.raises(SpecError, match="use oci:/tmp/layout$"):  # a tag_ref given back as a repository: the fix names the layout
        parse_repository("oci:/tmp/layout:mlenv-0123")


@pytest.mark.parametrize(
    "text, host, path, tag",
    [
        ("python:3.8", "docker.io", "library/python", "3.8"),
        ("ubuntu", "docker.io", "library/ubuntu", None),
        ("pytorch/pytorch:latest", "docker.io", "pytorch/pytorch", "latest"),
        ("docker.io/python:3.11-slim", "docker.io", "library/python", "3.11-slim"),
        ("docker.io/pytorch/pytorch", "docker.io", "pytorch/pytorch", None),
        ("mlenv-fixture/absent:1", "docker.io", "mlenv-fixture/absent", "1"),
    ],
)
def test_docker_hub_short_names_mean_what_docker_means(text, host, path, tag):
    ref = parse_reference(text)
    assert (ref.host, ref.path, ref.tag, ref.digest) == (host, path, tag, None)
    assert ref.repository == f"docker.io/{path}"


def test_docker_hub_answers_on_its_api_host():
    from mlenv.definition.reference import api_host
    from mlenv.oci.registry import RegistryStore

    assert api_host("docker.io") == api_host("index.docker.io") == "registry-1.docker.io"
    assert api_host("127.0.0.1:5000") == "127.0.0.1:5000"
    store = RegistryStore("docker.io", "library/python")
    try:
        assert store.base == "https://registry-1.docker.io/v2/library/python" and store.name == "docker.io/library/python"
    finally:
        store.close()


def test_a_push_target_names_its_registry_host():
    """A repository to push to is never Docker Hub by omission (`envs/train` is a typo more often than a Hub repository)."""
    with pytest.raises(SpecError, match="must start with a registry host"):
        parse_repository("envs/train")
    assert parse_repository("docker.io/myorg/envs").repository == "docker.io/myorg/envs"


def test_the_definition_keeps_a_short_name_as_written():
    """Only the parsed reference is expanded: the hash of `image: python:3.11` is what it always was."""
    from mlenv.definition.load import from_mapping
    from mlenv.identity.canonical import canonical_definition

    spec = from_mapping({"image": "python:3.11", "pip": ["six==1.16.0"]})
    assert spec.image == "python:3.11" and canonical_definition(spec)["image"] == "python:3.11"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:5000", True), ("localhost:5000", True), ("localhost", True), ("[::1]:5000", True), ("::1", True),
    ("127.0.0.2", True), ("ghcr.io", False), ("10.0.0.1:5000", False), ("localhost.example", False), ("[2001:db8::1]:443", False),
])
def test_plain_http_is_for_loopback_hosts_only(host, loopback):
    """One rule for registries, index URLs and direct references."""
    assert is_loopback(host) is loopback
