"""Fuzzing the definition parsers: whatever a user writes, the answer is a SpecError, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.load import TOP_FIELDS, from_mapping, load_file
from mlenv.definition.rules import findings

KEYS = st.sampled_from([*TOP_FIELDS, "base_image", "user_managed_dependencies", "channels", "dependencies", "pip", "path",
                        "dockerfile_path", "packages", "version", "address", "username", "password", "steps", "platform"]) | st.text(max_size=6)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20) | st.sampled_from(
    ["numpy==1.26.4", "python=3.11", "-r missing.txt", "--index-url http://u:p@h/simple", "mlenv:x@latest", "./x.whl", "3.10",
     "registry.example/base/python:3.11", "FROM scratch\n", "conda-forge", "../Dockerfile", "com.x:y:1"])
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25)


def parse_and_validate(load):
    try:
        spec = load()
    except SpecError as error:
        assert error.headline and "Fix:" in error.headline
        return
    findings(spec)  # rules over a parsed definition never raise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, DATA, max_size=6))
def test_any_mapping_is_parsed_or_refused_with_a_spec_error(data):
    with tempfile.TemporaryDirectory() as work:
        parse_and_validate(lambda: from_mapping(data, base_dir=Path(work)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | DATA.map(lambda d: yaml.safe_dump(d, allow_unicode=True)))
def test_any_file_is_loaded_or_refused_with_a_spec_error(text):
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "environment.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        parse_and_validate(lambda: load_file(path))


# --- a corpus of mutated real definitions (issue 12 item 9) ----------------------------------------

import random  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

from mlenv.diagnostics.errors import MlenvError  # noqa: E402
from mlenv.definition.sources import load_source  # noqa: E402

FIXTURES = Path(__file__).parents[2] / "fixtures" / "definitions"
SEED, MUTANTS_PER_FILE, MAX_CPU_SECONDS = 20261201, 8, 5.0  # CPU seconds, not wall: bounded work whatever the machine's load
JUNK = [b"*a", b"&a ", b"{", b"[", b"]", b"- ", b": ", b"\t", b"\x00", b"\xff\xfe", b'"\\ud800"', b"-r ../../x",
        b"-r /etc/passwd", b"--find-links /", b"9" * 5000, b"[" * 1200, b"!!python/object:os.system", b"\n" + b" " * 900 + b"k: v",
        b"${HOME}", b"\\", b"'", b"\r\n", "caf\u00e9".encode(), b"/dev/zero", b"../" * 50]


def _laughs(levels: int) -> bytes:
    names = [f"l{level}" for level in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]" for previous, name in zip(names, names[1:])]
    return ("\n".join(lines) + "\n").encode()


HEADERS = [_laughs(8), b"deep: " + b"[" * 990 + b"]" * 990 + b"\n", b"v: \"\\udc80\"\n", b"n: " + b"7" * 4400 + b"\n"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One deterministic mutation: a byte flipped, a line dropped or doubled, junk spliced in, or a
    hostile YAML block (an alias bomb, deep nesting, a surrogate, a huge number) put first."""
    lines = data.split(b"\n")
    kind = rng.randrange(6)
    if kind == 5:
        return rng.choice(HEADERS) + data
    if kind == 0 and data:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
    if kind == 1 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif kind == 2:
        at = rng.randrange(len(lines))
        lines.insert(at, lines[at] * rng.randrange(1, 4))
    else:
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice(JUNK) + data[at:]
    return b"\n".join(lines)


def corpus():
    """(fixture folder, file in it, mutated bytes) for every definition file under tests/fixtures/definitions."""
    rng = random.Random(SEED)
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix not in (".md", ".whl", ".py"))
    for path in files:
        for _ in range(MUTANTS_PER_FILE):
            data = path.read_bytes()
            for _ in range(rng.randrange(1, 4)):
                data = mutate(data, rng)
            yield path, data


def test_mutated_fixtures_give_a_spec_error_or_a_definition_in_bounded_time(tmp_path):
    cases, slowest, escaped = 0, 0.0, []
    for number, (path, data) in enumerate(corpus()):
        top = FIXTURES / path.relative_to(FIXTURES).parts[0]
        work = tmp_path / str(number)
        shutil.copytree(top, work, symlinks=True)
        target = work / path.relative_to(top)
        target.write_bytes(data)
        started = time.process_time()
        try:
            spec = load_source(target if target.name not in ("MLmodel", "asset.yaml", "spec.yaml") else target.parent)
            findings(spec)
        except MlenvError as error:
            assert error.headline and len(str(error)) < 5000
        except Exception as error:  # noqa: BLE001 - the point: nothing else may escape
            escaped.append(f"{path.relative_to(FIXTURES)} #{number}: {type(error).__name__}: {str(error)[:200]}")
        slowest = max(slowest, time.process_time() - started)
        cases += 1
        shutil.rmtree(work)
    print(f"mutated corpus: {cases} cases, slowest {slowest:.3f} s")
    assert not escaped, "\n".join(escaped)
    assert cases >= 300 and slowest < MAX_CPU_SECONDS, (cases, slowest)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.sampled_from(JUNK).flatmap(lambda junk: st.integers(1, 40).map(lambda n: junk * n)))
def test_any_bytes_as_a_definition_or_an_included_file(data):
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "req.txt").write_bytes(data)
        (Path(work) / "environment.yml").write_bytes(data)
        (Path(work) / "with-include.yml").write_text("image: registry.example/base/python:3.11\npip: ['-r req.txt']\nconda_file: environment.yml\n")
        for name in ("environment.yml", "with-include.yml"):
            started = time.process_time()
            parse_and_validate(lambda: load_file(Path(work) / name))
            assert time.process_time() - started < MAX_CPU_SECONDS
