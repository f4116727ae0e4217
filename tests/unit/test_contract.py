"""The SDK and the provider share one list of an Environment's properties (definition/model.py):
the outputs the SDK declares are the ones a build returns and the provider keeps."""

from __future__ import annotations

import dataclasses

from mlenv.definition.model import OUTPUT_PROPERTIES, SECRET_PROPERTIES, CREDENTIAL_PROPERTIES
from mlenv.pipeline import BuildResult
from pulumi_mlenv.environment import Environment


def test_the_sdk_declares_exactly_the_outputs_a_build_returns():
    result = BuildResult(**{f.name: None for f in dataclasses.fields(BuildResult) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING})
    assert tuple(result.outputs()) == OUTPUT_PROPERTIES
    declared = tuple(name for name in Environment.__annotations__)
    assert declared == OUTPUT_PROPERTIES


def test_every_secret_is_a_credential_and_no_credential_is_an_output():
    assert set(SECRET_PROPERTIES) <= set(CREDENTIAL_PROPERTIES)
    assert not set(CREDENTIAL_PROPERTIES) & set(OUTPUT_PROPERTIES)
