"""The error tree survives pickling with every detail (a worker process or saved state carries it)."""

from __future__ import annotations

import pickle

import pytest

from mlenv.diagnostics.errors import InternalError, RegistryError, SpecError


@pytest.mark.parametrize("error", [
    SpecError("pip", "not a requirement", "write name==version", "six=="),
    RegistryError("push", "the registry refused the upload", "log in", rule="registry.denied", evidence=[(3, "401 Unauthorized")],
                  output="tail", log_path="/tmp/build.log"),
    InternalError("internal", "KeyError: 'x'", "report it", log_path="/tmp/crash.log"),
])
def test_an_error_pickles_with_its_kind_message_and_details(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (back.headline, str(back), back.rule, back.evidence, back.output, back.log_path) == (
        error.headline, str(error), error.rule, error.evidence, error.output, error.log_path)
