"""The Docker builder's pure parts: the generated Dockerfile's order, the final base, the failing step."""

from __future__ import annotations

from mlenv.builders.docker.engine import failing_step
from mlenv.builders.docker.recipe import WheelGroup, final_base, render_dockerfile


def test_generated_dockerfile_keeps_expensive_steps_first():
    text = render_dockerfile("registry.example/base/python:3.11", ("RUN apt-get install -y libgomp1",), "/usr/bin/python3.11",
                             {"B": "2", "A": "x y"}, groups=[WheelGroup("numpy0", ("numpy==1.26.4",)), WheelGroup("tail1", ("six==1.16.0", "idna==3.7"))])
    lines = text.splitlines()
    assert lines[0] == "FROM registry.example/base/python:3.11"
    assert lines[1] == "RUN apt-get install -y libgomp1"  # system steps before the environment
    assert lines[2] == "RUN /usr/bin/python3.11 -m venv /opt/env"
    assert [line.split(",target=")[0] for line in lines[3:5]] == ["RUN --mount=type=bind,source=wheels/numpy0", "RUN --mount=type=bind,source=wheels/tail1"]
    assert all("--no-index" in line and "--no-deps" in line for line in lines[3:5])  # only the locked wheels, nothing from the network
    # by name from the mounted folder, never by file path (pip would record a file:// direct_url.json)
    assert lines[3].endswith("--find-links /tmp/mlenv-wheels numpy==1.26.4 && /opt/env/bin/python /tmp/mlenv-installed.py")
    assert "--find-links /tmp/mlenv-wheels six==1.16.0 idna==3.7 &&" in lines[4] and ".whl" not in text
    assert lines[5:] == ['ENV VIRTUAL_ENV=/opt/env PATH="/opt/env/bin:$PATH"', 'ENV A="x y"', 'ENV B="2"']  # variables last


def test_without_packages_there_is_no_venv():
    assert render_dockerfile("b/i:1", (), None, {}, groups=[]) == "FROM b/i:1\n"


def test_final_base_of_single_and_multi_stage_dockerfiles():
    assert final_base("FROM registry.example/base/python:3.11\nRUN true\n") == "registry.example/base/python:3.11"
    assert final_base("FROM --platform=linux/amd64 registry.example/a:1 AS build\nRUN make\nFROM registry.example/b:2\nCOPY --from=build /x /x\n") == "registry.example/b:2"
    assert final_base("FROM registry.example/a:1 AS build\nFROM build\n") is None  # a stage, not an image
    assert final_base("ARG BASE\nFROM $BASE\n") is None and final_base("FROM scratch\n") is None


def test_failing_step_from_buildkit_output():
    output = "#6 [3/3] RUN ls /nope\n#6 ERROR: executor failed running [/bin/sh -c ls /nope]: exit code: 2\n------\n > [3/3] RUN ls /nope:\n------\n"
    assert failing_step(output) == "step 3/3: RUN ls /nope"
    assert failing_step("plain failure without steps") is None


def test_builder_is_chosen_from_the_definition_or_asked_for():
    from mlenv.definition.model import builder_of
    from mlenv.identity.hashing import definition_hash
    from mlenv.definition.load import from_mapping

    base = {"image": "registry.example/base/python:3.11", "pip": ["six==1.16.0"]}
    assert builder_of(from_mapping(base)) == "oci"
    assert builder_of(from_mapping({**base, "docker": {"steps": ["RUN true"]}})) == "docker"
    assert builder_of(from_mapping({"dockerfile": "FROM x/y:1\n"})) == "docker"
    asked = from_mapping({**base, "builder": "docker"})
    assert builder_of(asked) == "docker" and definition_hash(asked) != definition_hash(from_mapping(base))
