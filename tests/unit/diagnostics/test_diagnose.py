"""The diagnostics catalogue: consistent, documented, and right on logs captured from real tools."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from mlenv.diagnostics.diagnose import _DEFAULTS, catalogue_markdown, diagnose, load_rules
from mlenv.diagnostics.redact import redact
from tests import paths

ROOT = paths.ROOT
FIXTURES = ROOT / "tests" / "fixtures" / "logs"


def test_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs" / "DIAGNOSTICS.md").read_text() == catalogue_markdown(), "regenerate: mlenv diagnose --catalogue > docs/DIAGNOSTICS.md"


def test_rule_ids_are_unique_and_categorised():
    ids = [rule.id for rule in load_rules()]
    assert len(ids) == len(set(ids))
    assert {rule.category for rule in load_rules()} >= {"resolution", "conda", "image", "docker", "registry", "generic"}


@pytest.mark.parametrize("rule", load_rules(), ids=lambda rule: rule.id)
def test_every_placeholder_can_be_filled(rule):
    groups = {name for pattern in rule.patterns for name in pattern.groupindex}
    for placeholder in re.findall(r"{(\w+)}", rule.cause + rule.fix):
        assert placeholder in groups or placeholder.endswith("_note") or placeholder in _DEFAULTS, placeholder


def test_unknown_logs_fall_back_to_their_last_lines():
    found = diagnose("step 1\nstep 2\nsomething odd happened\nthe end\n")
    assert [d.rule.id for d in found] == ["generic.error"]
    assert found[0].evidence[-1] == (4, "the end")


@given(st.text(max_size=400))
def test_any_text_gets_a_diagnosis_and_no_traceback(text):
    found = diagnose(text)
    assert found and all(d.cause and d.fix for d in found)


@pytest.mark.parametrize(
    "text, secret",
    [
        ("GET http://alice:hunter22@index.example/simple/six/", "hunter22"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("Authorization: Basic YWxpY2U6aHVudGVyMjI=", "YWxpY2U6aHVudGVyMjI="),
        ('{"token": "tok-98765", "expires_in": 300}', "tok-98765"),
        ("https://registry/token?service=x&password=pw-4321", "pw-4321"),
    ],
)
def test_secrets_are_redacted(text, secret):
    assert secret not in redact(text)
    assert secret not in "".join(line for d in diagnose(text) for _, line in d.evidence)


def test_explicit_secrets_are_redacted_anywhere():
    assert redact("pushed with s3cr3t-value inside", ["s3cr3t-value"]) == "pushed with *** inside"


def test_cli_diagnoses_standard_input():
    log = "Step 3/4 : RUN apt-get install -y no-such-package\nE: Unable to locate package no-such-package\n"
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "diagnose", "-"], input=log, capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.startswith("1. docker.apt-get: apt-get failed\n")
    assert "no-such-package" in done.stdout and "apt-get update" in done.stdout


# Logs captured from real tools on this machine (tests/fixtures/logs/README.md says how each was made;
# conda and a registry quota are shape-faithful reconstructions, marked there). Each maps to the rule
# that must rank first and a phrase its fix must contain.
EXPECTED = {
    "conda-channel-missing": ("conda.channel", "channels:"),
    "conda-invalid-spec": ("conda.invalid-spec", "write conda specs as"),
    "conda-packages-not-found-channels": ("conda.package-not-found", "add the channel"),
    "conda-pip-subprocess": ("conda.pip-subprocess", "pip: section"),
    "conda-resolve-package-not-found": ("conda.package-not-found", "add the channel"),
    "conda-solver-timeout": ("conda.solver-timeout", "pin more packages"),
    "conda-unavailable-channel": ("conda.channel", "channels:"),
    "conda-unsatisfiable": ("conda.unsatisfiable", "relax the pins"),
    "docker-apt-get": ("docker.apt-get", "apt-get update"),
    "docker-apt-locate": ("docker.apt-get", "apt-get update"),
    "docker-base-not-found-local": ("image.no-registry-host", "registry host"),
    "docker-base-not-found-manifest": ("image.not-found", "push the base image"),
    "docker-base-not-found-registry": ("registry.unreachable", "registry is running"),
    "docker-buildkit-apt-get": ("docker.apt-get", "apt-get update"),
    "docker-buildkit-apt-locate": ("docker.apt-get", "apt-get update"),
    "docker-buildkit-base-not-found-local": ("image.no-registry-host", "registry host"),
    "docker-buildkit-base-not-found-manifest": ("image.not-found", "push the base image"),
    "docker-buildkit-base-not-found-registry": ("registry.unreachable", "registry is running"),
    "docker-buildkit-copy-missing": ("docker.copy-missing", ".dockerignore"),
    "docker-buildkit-exec-format": ("image.wrong-architecture", "linux/amd64"),
    "docker-buildkit-exec-format-shell": ("image.wrong-architecture", "linux/amd64"),
    "docker-buildkit-make-no-makefile": ("docker.make-no-makefile", "WORKDIR"),
    "docker-buildkit-run-failed": ("docker.run-failed", "reproduce"),
    "docker-buildkit-run-not-found": ("docker.command-not-found", "install it"),
    "docker-buildkit-shell-unquoted-redirect": ("shell.unquoted-redirect", 'pip install "numpy<2.0"'),
    "docker-buildkit-unknown-instruction": ("docker.unknown-instruction", "spelling"),
    "docker-copy-missing": ("docker.copy-missing", ".dockerignore"),
    "docker-exec-format": ("image.wrong-architecture", "linux/amd64"),
    "docker-exec-format-shell": ("image.wrong-architecture", "linux/amd64"),
    "docker-login-wrong-password": ("registry.unauthorized", "registry_password"),
    "docker-make-no-makefile": ("docker.make-no-makefile", "WORKDIR"),
    "docker-oom-137": ("docker.out-of-memory", "more memory"),
    "docker-push-unauthorized": ("registry.unauthorized", "registry_password"),
    "docker-run-exec-format": ("image.wrong-architecture", "linux/amd64"),
    "docker-run-failed": ("docker.run-failed", "reproduce"),
    "docker-run-no-space": ("docker.no-space", "free space"),
    "docker-run-not-found": ("docker.command-not-found", "install it"),
    "docker-unknown-instruction": ("docker.unknown-instruction", "spelling"),
    "pip-401-nocreds": ("resolution.index-unauthorized", "credentials"),
    "pip-401-vv": ("resolution.index-unauthorized", "credentials"),
    "pip-conflict": ("resolution.conflict", "relax one side"),
    "pip-hash-mismatch": ("resolution.hash-mismatch", "mirror"),
    "pip-index-unreachable": ("resolution.no-versions-visible", "-v"),
    "pip-index-unreachable-retries": ("resolution.index-unreachable", "index URL"),
    "pip-invalid-requirement": ("resolution.invalid-requirement", "name==version"),
    "pip-invalid-wheel-filename": ("resolution.invalid-wheel-filename", "rename"),
    "pip-no-version": ("resolution.version-not-found", "closest to the requested one"),
    "pip-python-version": ("resolution.python-version", "base image"),
    "pip-read-timeout-retries": ("resolution.timeout", "timeout"),
    "pip-sdist-only-binary": ("resolution.no-versions-visible", "-v"),
    "pip-tls": ("resolution.index-tls", "SSL_CERT_FILE"),
    "registry-blob-upload": ("registry.blob-upload", "retry"),
    "registry-blob-upload-invalid": ("registry.blob-upload", "retry"),
    "registry-blob-upload-unknown": ("registry.blob-upload", "retry"),
    "registry-manifest-invalid": ("registry.manifest-invalid", "retry"),
    "registry-quota": ("registry.quota", "quota"),
    "shell-unquoted-redirect": ("shell.unquoted-redirect", 'pip install "numpy<2.0"'),
    "uv-401": ("resolution.index-unauthorized", "credentials"),
    "uv-conflict": ("resolution.conflict", "relax one side"),
    "uv-invalid-requirement": ("resolution.invalid-requirement", "name==version"),
    "uv-no-version": ("resolution.version-not-found", "exists"),
    "uv-python-version": ("resolution.python-version", "base image"),
    "uv-read-timeout": ("resolution.timeout", "timeout"),
    "uv-sdist-only": ("resolution.sdist-only", "wheel"),
    "uv-tls": ("resolution.index-tls", "SSL_CERT_FILE"),
    "uv-unreachable": ("resolution.index-unreachable", "index URL"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_captured_logs_are_diagnosed(name):
    rule, phrase = EXPECTED[name]
    top = diagnose((FIXTURES / f"{name}.log").read_text(errors="replace"))[0]
    assert top.rule.id == rule
    assert phrase in top.fix
    assert top.evidence, "a diagnosis always shows the lines that prove it"


def test_every_fixture_has_an_expectation():
    assert {p.stem for p in FIXTURES.glob("*.log")} >= set(EXPECTED)


def test_pip_no_version_names_the_closest_existing_version():
    top = diagnose((FIXTURES / "pip-no-version.log").read_text())[0]
    assert "versions there: 1.16.0, 1.17.0" in top.cause and "closest to the requested one: 1.17.0" in top.fix


def test_credentials_in_captured_logs_are_redacted():
    for path in FIXTURES.glob("*401*.log"):
        for found in diagnose(path.read_text(errors="replace")):
            assert not any(re.search(r"://[^/*\s]+:[^*@\s]+@", line) for _, line in found.evidence), path.name
