"""Whole builds through the fault-injecting proxy: for each fault rule the build converges — it
succeeds on retry, or fails with one clear message and a saved log — and no tag ever points at a
partial image (checked against the registry itself, behind the proxy)."""

from __future__ import annotations

import re

import httpx
import pytest

from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import MlenvError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.oci.mediatypes import MANIFEST_ACCEPT
from mlenv.oci import registry as registry_module
from mlenv.pipeline import build
from testbed.fault_proxy import Rule

pytestmark = pytest.mark.integration
UPLOADS, MANIFESTS, BLOBS = "/blobs/uploads/", "/manifests/", r"/blobs/sha256:"
MOUNT_REFUSED = Rule("status", "POST", "mount=", status=405, times=100)

# name: (rules, environment, body cap, outcome: "ok" or the diagnosis of the one clear error)
CASES = {
    "503 once on every kind of request": ([Rule("status", m, p) for m, p in
                                           [("GET", MANIFESTS), ("HEAD", BLOBS), ("POST", "mount="), ("POST", UPLOADS + "$"),
                                            ("PUT", UPLOADS), ("PUT", MANIFESTS + "sha256:"), ("PUT", MANIFESTS + "mlenv-")]], {}, None, "ok"),
    "502 twice on the tag": ([Rule("status", "PUT", MANIFESTS + "mlenv-", status=502, times=2)], {}, None, "ok"),
    "reset while a blob is sent": ([Rule("reset-request", "PUT", UPLOADS, times=2)], {}, None, "ok"),
    "lost answer to a blob's final PUT": ([Rule("lose-response", "PUT", UPLOADS, times=3)], {}, None, "ok"),
    "lost answer to the manifest PUT": ([Rule("lose-response", "PUT", MANIFESTS + "sha256:")], {}, None, "ok"),
    "lost answer to the tag PUT": ([Rule("lose-response", "PUT", MANIFESTS + "mlenv-")], {}, None, "ok"),
    "reset mid-body of the base config": ([Rule("reset-response", "GET", BLOBS)], {}, None, "ok"),
    "429 with Retry-After on HEAD": ([Rule("status", "HEAD", BLOBS, status=429, retry_after="1")], {}, None, "ok"),
    "401 once on the tag (Bearer)": ([Rule("challenge", "PUT", MANIFESTS + "mlenv-")], {}, None, "ok"),
    "token service 503 once": ([Rule("challenge", "PUT", MANIFESTS, times=10), Rule("status", "GET", "^/token")], {}, None, "ok"),
    "slow manifest GET": ([Rule("delay", "GET", MANIFESTS, delay=0.5)], {}, None, "ok"),
    "mount refused (405): uploaded instead": ([MOUNT_REFUSED], {}, None, "ok"),
    "mount refused (404), chunks under a body cap": ([Rule("status", "POST", "mount=", status=404, times=100)],
                                                    {"MLENV_CHUNK_SIZE": "8M"}, 9 * 1024 * 1024, "ok"),
    "503 forever on the tag": ([Rule("status", "PUT", MANIFESTS + "mlenv-", times=100)], {}, None, "registry.unavailable"),
    "reset forever on the manifest": ([Rule("reset-request", "PUT", MANIFESTS, times=100)], {}, None, "registry.unavailable"),
    "503 forever on PATCH": ([MOUNT_REFUSED, Rule("status", "PATCH", UPLOADS, times=100)], {"MLENV_CHUNK_SIZE": "8M"}, None, "registry.unavailable"),
    "a body cap below the chunk size": ([MOUNT_REFUSED], {}, 4 * 1024 * 1024, "registry.body-too-large"),
    "token service 503 forever": ([Rule("challenge", "PUT", MANIFESTS, times=100), Rule("status", "GET", "^/token", times=100)], {}, None, "registry.token-service"),
    "token service refuses the login": ([Rule("challenge", "PUT", UPLOADS, times=100), Rule("status", "GET", "^/token", status=403, times=100)],
                                        {}, None, "registry.unauthorized"),
}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """The same retries, with shorter pauses between them (Retry-After is still honoured as given)."""
    from tenacity import wait_exponential

    monkeypatch.setattr(registry_module, "_backoff", wait_exponential(multiplier=0.02, max=0.2))


def _manifest(registry, repository: str, reference: str) -> httpx.Response:
    return httpx.get(f"{registry.url}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})


def _complete(registry, repository: str, manifest: dict) -> bool:
    """Every blob the manifest names is in the repository, as the registry itself says."""
    digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
    return all(httpx.head(f"{registry.url}/v2/{repository}/blobs/{d}").status_code == 200 for d in digests)


@pytest.mark.parametrize("name", list(CASES))
def test_a_build_through_a_fault_converges(name, fault_proxy, registry, base_image, index_settings, monkeypatch):
    rules, environment, cap, expected = CASES[name]
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    base = base_image.replace(registry.host, fault_proxy.host)  # through the proxy: the base's layers can be mounted
    repository = "faults/" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    spec = from_mapping({"image": base, "pip": ["six==1.16.0"], "variables": {"CASE": name}})
    fault_proxy.set_rules(*rules, body_limit=cap)
    lines: list[str] = []
    try:
        result = build(spec, f"{fault_proxy.host}/{repository}", index=index_settings, log=lines.append)
    except MlenvError as error:  # anything else is a traceback and fails the test
        assert expected != "ok", f"{name}: {error}"
        assert error.rule == expected, error
        assert error.log_path and "Traceback" not in str(error)
        assert _manifest(registry, repository, tag_for(definition_hash(spec))).status_code == 404, "no tag after a failure"
        return
    assert expected == "ok", f"{name}: built although it should fail with {expected}"
    tagged = _manifest(registry, repository, result.tag)
    assert tagged.status_code == 200 and tagged.headers["docker-content-digest"] == result.digest
    assert _complete(registry, repository, tagged.json()), "the tag points at a complete image"
    assert all(rule.hits for rule in rules), f"every rule of {name!r} fired"
