"""The house rules of docs/ARCHITECTURE.md, checked on the code itself: each stage imports only the
stages before it, no module is over 400 lines, no function takes more than 5 positional parameters,
nothing outside tests/ imports tests/, and both stores answer the Store protocol."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from tests import paths

PACKAGE = paths.ROOT / "provider" / "mlenv"
ORDER = ["foundation", "definition", "identity", "resolve", "oci", "catalogue", "builders", "shell"]
FOUNDATION = {"diagnostics", "cache", "digests"}
SHELLS = {"pipeline", "cli", "catalogue_cli", "curated_cli", "build_report", "replay", "provider", "settings"}


def stage_of(module: str) -> str:
    """mlenv.resolve.pip_lock → resolve; the foundation and the shells by name."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in FOUNDATION:
        return "foundation"
    return "shell" if top in SHELLS or top == "__init__" else top


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("mlenv", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found.append((name, path))
    return found


def python_files_outside_tests() -> list[Path]:
    return [p for folder in ("provider", "sdk", "bench", "testbed", "scripts", "examples") for p in (paths.ROOT / folder).rglob("*.py")]


@pytest.mark.parametrize(("module", "path"), modules(), ids=[name for name, _ in modules()])
def test_a_stage_imports_only_the_stages_before_it(module, path):
    here = stage_of(module)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlenv."):
            there = stage_of(node.module)
            assert ORDER.index(there) <= ORDER.index(here), f"{module} ({here}) imports {node.module} ({there}), line {node.lineno}"


def test_no_module_over_400_lines_and_no_function_over_5_positional_parameters():
    long, wide = [], []
    for path in [p for _, p in modules()] + list((paths.ROOT / "sdk").rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            long.append(f"{path.relative_to(paths.ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                if len(positional) > 5:
                    wide.append(f"{path.relative_to(paths.ROOT)}:{node.lineno} {node.name}({len(positional)})")
    assert long == [] and wide == []


def test_nothing_outside_tests_imports_the_test_package():
    offenders = []
    for path in python_files_outside_tests():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.relative_to(paths.ROOT)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    demo = (paths.ROOT / "scripts" / "demo.sh").read_text()
    assert offenders == [] and "tests." not in demo


def test_both_stores_answer_the_store_protocol():
    from mlenv.oci.layout import LayoutStore
    from mlenv.oci.registry import RegistryStore
    from mlenv.oci.store import Store

    wanted = {name for name in vars(Store) if not name.startswith("_")}
    for store in (LayoutStore, RegistryStore):
        missing = {name for name in wanted if not hasattr(store, name)}
        assert not missing, (store.__name__, missing)
        for name in wanted - {"name"}:
            assert list(inspect.signature(getattr(store, name)).parameters) == list(inspect.signature(getattr(Store, name)).parameters), (store.__name__, name)
