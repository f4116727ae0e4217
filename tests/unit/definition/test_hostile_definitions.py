"""A definition from an untrusted pull request (`mlenv validate` in CI): it reads nothing outside
its own folder, does bounded work, and never ends in a traceback (issue 12 items 7-9)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlenv.cli import main
from mlenv.definition.bounds import MAX_VALUES
from mlenv.definition.load import from_mapping, load_file
from mlenv.diagnostics.errors import SpecError

SECRET = "TOP-SECRET-LINE-4f1e"
IMAGE = "image: registry.example/base/python:3.11\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the definition's, holding what a definition must not read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(f"{SECRET}\n")
    (folder / "env.yml").write_text(f"channels: [conda-forge]\ndependencies: [{SECRET}]\n")
    (folder / "Dockerfile").write_text(f"FROM {SECRET}\n")
    (folder / "acme-1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (folder / "ctx").mkdir()
    (folder / "ctx" / "Dockerfile").write_text("FROM registry.example/base/python:3.11\n")
    return folder


@pytest.fixture
def repo(tmp_path) -> Path:
    folder = tmp_path / "repo" / "envs"
    folder.mkdir(parents=True)
    return folder


def validate(capsys, *args: str) -> tuple[int, str]:
    code = main(["validate", "--offline", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


HOSTILE = {
    "pip file absolute": lambda o: f"{IMAGE}pip: {o}/secret.txt\n",
    "pip file dotdot": lambda o: f"{IMAGE}pip: ../../outside/secret.txt\n",
    "-r dotdot": lambda o: f"{IMAGE}pip: ['-r ../../outside/secret.txt']\n",
    "-r proc": lambda o: f"{IMAGE}pip: ['-r /proc/self/environ']\n",
    "-r etc passwd": lambda o: f"{IMAGE}pip: ['-r /etc/passwd']\n",
    "conda_file absolute": lambda o: f"{IMAGE}conda_file: {o}/env.yml\n",
    "conda_file dotdot": lambda o: f"{IMAGE}conda_file: ../../outside/env.yml\n",
    "dockerfile path": lambda o: f"dockerfile: {o}/Dockerfile\n",
    "dockerfile etc passwd": lambda o: "dockerfile: /etc/passwd\n",
    "build context outside": lambda o: f"build: {{path: {o}/ctx}}\n",
    "find-links outside": lambda o: f"{IMAGE}pip: ['--find-links {o}', acme]\n",
    "wheel outside": lambda o: f"{IMAGE}pip: ['{o}/acme-1.0-py3-none-any.whl']\n",
    "symlinked requirements": lambda o: f"{IMAGE}pip: link.txt\n",
    "symlinked wheel": lambda o: f"{IMAGE}pip: ['./acme-1.0-py3-none-any.whl']\n",
    "symlinked links folder": lambda o: f"{IMAGE}pip: ['--find-links ./links', acme]\n",
}


@pytest.mark.parametrize("case", HOSTILE)
def test_nothing_outside_the_definition_folder_is_read(case, repo, outside, capsys):
    (repo / "link.txt").symlink_to(outside / "secret.txt")
    (repo / "acme-1.0-py3-none-any.whl").symlink_to(outside / "acme-1.0-py3-none-any.whl")
    (repo / "links").mkdir()
    (repo / "links" / "acme-1.0-py3-none-any.whl").symlink_to(outside / "acme-1.0-py3-none-any.whl")
    definition = repo / "environment.yml"
    definition.write_text(HOSTILE[case](outside))
    code, output = validate(capsys, str(definition))
    assert code == 1, output
    assert "outside the definition's folder" in output and "--allow-path" in output, output
    assert SECRET not in output and "root:" not in output and "Traceback" not in output


def test_allow_path_and_the_environment_variable_open_a_folder(repo, outside, capsys, monkeypatch):
    definition = repo / "environment.yml"
    definition.write_text(f"{IMAGE}pip: ../../outside/secret.txt\n")
    code, output = validate(capsys, "--allow-path", str(outside), str(definition))
    assert "outside the definition's folder" not in output  # read now: the line is no requirement
    monkeypatch.setenv("MLENV_ALLOWED_PATHS", os.pathsep.join(["/nonexistent", str(outside)]))
    code, again = validate(capsys, str(definition))
    assert "outside the definition's folder" not in again


def test_files_beside_and_below_the_definition_and_a_symlinked_definition_are_read(repo, outside, tmp_path):
    (repo / "sub").mkdir()
    (repo / "sub" / "base.txt").write_text("six==1.16.0\n")
    (repo / "requirements.txt").write_text("-r sub/base.txt\n")
    (repo / "environment.yml").write_text(f"{IMAGE}pip: requirements.txt\n")
    assert [str(r) for r in load_file(repo / "environment.yml").pip.requirements] == ["six==1.16.0"]
    (outside / "linked.yml").symlink_to(repo / "environment.yml")  # the file named is always allowed
    (outside / "requirements.txt").write_text("six==1.16.0\n")
    assert [str(r) for r in load_file(outside / "linked.yml").pip.requirements] == ["six==1.16.0"]


def test_program_code_is_not_confined(outside):
    """Keyword arguments and provider inputs come from the program, which can read anything anyway."""
    spec = from_mapping({"image": "registry.example/base/python:3.11", "conda_file": str(outside / "env.yml")})
    assert spec.conda.packages


# --- bounded work (item 8) ------------------------------------------------------------------------

def billion_laughs(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [" + ",".join([f"*{chr(96 + level)}"] * 9) + "]")
    return "\n".join(lines) + "\nimage: registry.example/base/python:3.11\n"


@pytest.mark.parametrize("levels", [8, 12])
def test_an_alias_bomb_is_refused_quickly_with_a_short_message(levels, tmp_path, capsys):
    path = tmp_path / "environment.yml"
    path.write_text(billion_laughs(levels))
    started = time.monotonic()
    code, output = validate(capsys, str(path))
    assert time.monotonic() - started < 2
    assert code == 1 and f"more than {MAX_VALUES} values" in output and len(output) < 1000, output[:2000]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_only_regular_files_are_read(kind, tmp_path, capsys):
    target = tmp_path / "req.txt"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    (tmp_path / "environment.yml").write_text(f"{IMAGE}pip: ['-r req.txt']\n")
    started = time.monotonic()
    code, output = validate(capsys, "--allow-path", "/dev", str(tmp_path / "environment.yml"))
    assert code == 1 and "not a regular file" in output and time.monotonic() - started < 2, output


def test_a_definition_named_on_the_command_line_as_a_fifo_does_not_block(tmp_path, capsys):
    os.mkfifo(tmp_path / "environment.yml")
    code, output = validate(capsys, str(tmp_path / "environment.yml"))
    assert code == 1 and "not a regular file" in output


def test_a_file_over_the_size_cap_is_refused(tmp_path, capsys):
    (tmp_path / "big.txt").write_bytes(b"# padding\n" * (1024 * 1024 + 1))
    (tmp_path / "environment.yml").write_text(f"{IMAGE}pip: big.txt\n")
    code, output = validate(capsys, str(tmp_path / "environment.yml"))
    assert code == 1 and "over the limit of 10 MiB" in output


def test_a_huge_value_is_shown_clipped(tmp_path, capsys):
    (tmp_path / "environment.yml").write_text(f"image: '{'x' * 5_000_000}!'\n")
    code, output = validate(capsys, str(tmp_path / "environment.yml"))
    assert code == 1 and "…" in output and len(output) < 1500


# --- malformed input (item 9) ---------------------------------------------------------------------

MALFORMED = {
    "yaml nesting 1000": "pip: " + "[" * 1000 + "]" * 1000 + "\n",
    "yaml nesting 100": "pip: " + "[" * 100 + "]" * 100 + "\n",
    "json nesting 1000": '{"pip": ' + "[" * 1000 + "]" * 1000 + "}",
    "mapping nesting 1000": "".join(f"{' ' * i}k{i}:\n" for i in range(1000)) + " " * 1000 + "v: 1\n",
    "int 5000 digits": f"version: {'9' * 5000}\n{IMAGE}",
    "int 5000 digits as a key": f"variables: {{{'9' * 5000}: x}}\n{IMAGE}",
    "lone surrogate": IMAGE + 'variables: {A: "\\ud800"}\n',
    "lone surrogate key": IMAGE + 'tags: {"\\udfff": x}\n',
    "json lone surrogate": '{"image": "registry.example/base/python:3.11", "pip": ["\\ud800"]}',
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_input_is_a_clear_error(case, tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text(MALFORMED[case])
    with pytest.raises(SpecError) as caught:
        load_file(path)
    assert "Fix:" in caught.value.headline and len(caught.value.headline) < 1000


def test_a_500_deep_include_chain_is_a_clear_error(tmp_path):
    for depth in range(500):
        (tmp_path / f"r{depth}.txt").write_text(f"-r r{depth + 1}.txt\n" if depth < 499 else "six\n")
    (tmp_path / "environment.yml").write_text(f"{IMAGE}pip: r0.txt\n")
    with pytest.raises(SpecError, match="nest deeper than"):
        load_file(tmp_path / "environment.yml")


def nested(depth: int) -> list:
    value: list = ["x"]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("data", [
    {"image": "registry.example/base/python:3.11", "version": 10 ** 5000},
    {"image": "registry.example/base/python:3.11", "variables": {"A": "\ud800"}},
    {"image": "registry.example/base/python:3.11", "pip": ["six"], "docker": {"steps": nested(100)}},
])
def test_program_inputs_get_the_same_bounds(data):
    with pytest.raises(SpecError):
        from_mapping(data)


def test_the_cli_prints_no_traceback_for_any_of_them(tmp_path):
    """In a process of its own, as CI runs it: exit 1, one error per file, no traceback."""
    files = []
    for index, text in enumerate([*MALFORMED.values(), billion_laughs(9)]):
        files.append(tmp_path / f"case{index}.yml")
        files[-1].write_text(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["provider", "sdk", "."])}
    done = subprocess.run([sys.executable, "-m", "mlenv.cli", "validate", "--offline", *map(str, files)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parents[3])
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.stdout.count(": error: ") == len(files), done.stdout
