"""Loading a built image into the engine for verify waits for the engine's whole answer."""

from __future__ import annotations

import pytest

from mlenv.builders.docker.saved_image import _loaded
from mlenv.diagnostics.errors import EngineError


def test_the_load_reads_the_engine_stream_to_its_end():
    read = []

    def stream():
        for message in ({"stream": "Loading layer"}, {"stream": "Loaded image: mlenv-verify:x"}):
            read.append(message)
            yield message

    _loaded(stream(), "mlenv-verify:x")
    assert len(read) == 2  # a generator left unread meant run() raced the load


def test_an_error_in_the_stream_is_the_loads_failure():
    with pytest.raises(EngineError) as caught:
        _loaded(iter([{"stream": "Loading layer"}, {"error": "write /var/lib/docker: no space left on device"}]), "mlenv-verify:x")
    assert caught.value.headline.startswith("verify: the Docker engine could not load the built image mlenv-verify:x: write /var/lib/docker: no space left")
