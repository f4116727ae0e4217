"""Variables reach an image the Docker builder built exactly as written: `$` not expanded, `\\`
and quotes kept, non-ASCII as UTF-8, line breaks kept (issue 12 item 10)."""

from __future__ import annotations

import pytest

from mlenv.builders.docker.recipe import env_build_args, render_env
from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import SpecError
from mlenv.provider import EnvironmentProvider
from testbed.engine import ProviderProcess, Stack

pytestmark = pytest.mark.integration
TYPE = "pulumi-python:dynamic/mlenv:Environment"
VALUES = {
    "PLAIN": "café $HOME a\\nb",  # a backslash-n as two characters, and a $ that must stay a $
    "BREAK": "first line\nsecond $HOME line",  # a real line break
    "QUOTES": 'say "hi" \\" ${X} `id` \'q\' tab\there',
    "TRAILING": "ends with a backslash \\",
    "EMPTY": "",
}


@pytest.fixture(scope="module")
def engine(index, build_cache, docker_engine):
    with ProviderProcess(env={"MLENV_INDEX_URL": index.url, "MLENV_CACHE_DIR": str(build_cache)}) as process:
        yield process


def printenv(docker_engine, image_ref: str, names) -> dict[str, str]:
    docker_engine.images.pull(image_ref)
    script = "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))"
    import json

    return json.loads(docker_engine.containers.run(image_ref, ["python3", "-c", script, *names], remove=True).decode())


def test_variables_arrive_exactly_through_a_real_docker_build(engine, registry, base_image, docker_engine):
    dockerfile = f"FROM {base_image}\nRUN true\n"
    result = Stack(engine, type_token=TYPE).up("vars", EnvironmentProvider(), {
        "repository": f"{registry.host}/envs/vars", "dockerfile": dockerfile, "variables": VALUES})
    assert result.op == "create", result.error
    assert printenv(docker_engine, result.outputs["image_ref"], VALUES) == VALUES


def test_env_lines_escape_what_docker_would_read():
    text = render_env({"A": 'x $HOME "q" \\'})
    assert text == 'ENV A="x \\$HOME \\"q\\" \\\\"\n'
    assert "ARG MLENV_VALUE_B" in render_env({"B": "a\nb"}) and "a\nb" not in render_env({"B": "a\nb"})
    assert env_build_args({"A": "x", "B": "a\nb"}) == {"MLENV_VALUE_B": "a\nb"}


@pytest.mark.parametrize("name", ["OK\n", "OK\nRUN id", "\nOK", "1X", "A-B"])
def test_a_variable_name_with_a_line_break_is_refused(name):
    with pytest.raises(SpecError, match="not a valid environment variable name"):
        from_mapping({"image": "registry.example/python:3.11", "variables": {name: "1"}})
