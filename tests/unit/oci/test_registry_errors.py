"""An exhausted registry retry is an explanation (host, what it answered), not an internal error."""

from __future__ import annotations

import httpx

from mlenv.diagnostics.diagnose import diagnose
from mlenv.diagnostics.errors import RegistryError
from mlenv.oci.registry import _Transient, _is_transient, unavailable


def test_a_server_error_names_the_host_the_status_and_the_request():
    error = unavailable("registry.example:5000", _Transient("GET /v2/x/manifests/t", 503), 4)
    assert isinstance(error, RegistryError) and error.rule == "registry.unavailable"
    assert error.headline.startswith("registry: the registry registry.example:5000 answered HTTP 503 to GET /v2/x/manifests/t (4 attempts). Fix: retry later")
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.unavailable"


def test_a_connection_that_keeps_failing_says_how():
    error = unavailable("registry.example", httpx.ReadTimeout("timed out"), 4)
    assert error.problem == "the registry registry.example did not answer: ReadTimeout: timed out (4 attempts)"
    assert diagnose(f"error: {error.headline}")[0].rule.id == "registry.unavailable"


def test_rate_limiting_is_the_quota_diagnosis():
    error = unavailable("registry.example", _Transient("HEAD /v2/x/blobs/sha256:ab", 429), 4)
    assert error.rule == "registry.quota" and "answered HTTP 429" in error.problem and "rate limit" in error.fix


def test_an_exhausted_request_still_lets_a_whole_upload_start_over():
    assert _is_transient(unavailable("h", _Transient("PUT /v2/x/blobs/uploads/1", 502), 4))
    assert not _is_transient(RegistryError("registry", "denied", "log in", rule="registry.unauthorized"))
