"""`compression:` in a definition: hashed only when it asks for zstd; a bad value or a Docker build
is one clear error naming the field."""

import pytest

from mlenv.definition.load import from_mapping
from mlenv.definition.rules import findings
from mlenv.diagnostics.errors import SpecError
from mlenv.identity.canonical import canonical_definition, to_mapping
from mlenv.identity.hashing import definition_hash

BASE = {"image": "registry.example/base/python:3.11@sha256:" + "a" * 64, "pip": ["six==1.16.0"]}


def test_left_out_or_gzip_hashes_as_before_and_zstd_is_another_image():
    plain, gzip, zstd = (from_mapping({**BASE, **extra}) for extra in ({}, {"compression": "gzip"}, {"compression": "zstd"}))
    assert "compression" not in canonical_definition(plain) and "compression" not in to_mapping(gzip)
    assert definition_hash(plain) == definition_hash(gzip) != definition_hash(zstd)
    assert canonical_definition(zstd)["compression"] == "zstd"
    assert definition_hash(from_mapping(to_mapping(zstd))) == definition_hash(zstd)  # the input form keeps it


def test_an_unknown_compression_names_the_field_value_and_fix():
    with pytest.raises(SpecError) as raised:
        from_mapping({**BASE, "compression": "lz4"})
    assert raised.value.where == "compression" and "lz4" in str(raised.value) and "zstd" in str(raised.value)


def test_zstd_with_docker_instructions_is_an_error():
    spec = from_mapping({**BASE, "compression": "zstd", "docker": {"steps": ["RUN true"]}})
    assert [e.where for e in findings(spec).errors if e.where == "compression"] == ["compression"]
    assert not [e for e in findings(from_mapping({**BASE, "compression": "zstd"})).errors if e.where == "compression"]
