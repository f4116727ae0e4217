"""Shared by tests/test_context.py and tests/test_context_errors.py: a realistic build context (sources,
data, an executable script, bytecode, docs) with its Dockerfile and .dockerignore, and a writer of trees."""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = "FROM python:3.11-slim\nCOPY . /app\nRUN /app/scripts/run.sh\n"
DOCKERIGNORE = "# build outputs\n**/*.pyc\ndata/\n!data/keep.csv\n*.md\n!README.md\n/build\n"
TREE = {
    "Dockerfile": DOCKERFILE,
    ".dockerignore": DOCKERIGNORE,
    "src/app/__init__.py": "",
    "src/app/main.py": "print('hello')\n",
    "src/app/__pycache__/main.cpython-311.pyc": "\x00compiled",
    "src/build/keep.py": "KEEP = 1\n",
    "data/keep.csv": "a,b\n1,2\n",
    "data/raw.csv": "x,y\n" * 100,
    "data/sub/big.parquet": "P" * 1000,
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "README.md": "# readme\n",
    "NOTES.md": "notes\n",
    "docs/guide.md": "guide\n",
    "build/out.txt": "output\n",
    "top.pyc": "\x00top",
}


def write_tree(root: Path, files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for rel in executable:
        (root / rel).chmod(0o755)
    return root



def realistic_context(tmp_path: Path) -> Path:
    """A realistic context: sources, data, an executable script, bytecode, docs."""
    return write_tree(tmp_path / "ctx", TREE, executable=("scripts/run.sh",))
