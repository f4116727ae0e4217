"""Figures: how often the files a definition points at are opened, from loading to a pushed image.

Drives the provider as `pulumi up` does (check, then create) for two definitions: a Docker build
context, and a requirements file with a local `--find-links` folder. Counts, with an audit hook,
every open of a file under the definition's folder and every listing of a folder there, in this
process (the Docker CLI and uv, run as subprocesses, read what they must on their own). Then counts
again for `definition_hash` called three times on the loaded definition. Prints, never asserts.
Starts its own registry, index and Docker engine on 127.0.0.1. Run: `python bench/read_counts.py`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlenv.definition.load import load_file  # noqa: E402
from mlenv.identity.hashing import definition_hash  # noqa: E402
from mlenv.oci.rootfs import import_rootfs  # noqa: E402
from mlenv.provider import EnvironmentProvider  # noqa: E402
from testbed import services  # noqa: E402
from testbed.wheelmaker import make_wheel  # noqa: E402

_watched: dict = {"root": None, "counts": None}


def _hook(event: str, args: tuple) -> None:
    root, counts = _watched["root"], _watched["counts"]
    if root is None or event not in ("open", "os.scandir", "os.listdir"):
        return
    path = args[0]
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, (str, os.PathLike)) and os.path.abspath(path).startswith(root):
        counts[("open" if event == "open" else "list", os.path.relpath(path, root))] += 1


sys.addaudithook(_hook)


@contextmanager
def watching(root: Path):
    counts: Counter = Counter()
    _watched.update(root=str(root) + os.sep, counts=counts)
    try:
        yield counts
    finally:
        _watched.update(root=None, counts=None)


def summary(counts: Counter) -> str:
    opens = {path: n for (kind, path), n in counts.items() if kind == "open"}
    lists = {path: n for (kind, path), n in counts.items() if kind == "list"}
    most = max(opens.values(), default=0)
    return f"{sum(opens.values()):4d} opens of {len(opens):3d} files (at most {most} each), {sum(lists.values()):3d} folder listings"


def context_definition(folder: Path, base: str) -> Path:
    context = folder / "context"
    (context / "app").mkdir(parents=True)
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY app/ /app/\n")
    (context / ".dockerignore").write_text("**/*.log\n")
    for number in range(20):
        (context / "app" / f"module{number}.py").write_text(f"VALUE = {number}\n")
    (context / "app" / "debug.log").write_text("ignored\n")
    (folder / "environment.yml").write_text("build:\n  path: ./context\n")
    return folder / "environment.yml"


def find_links_definition(folder: Path, base: str) -> Path:
    wheels = folder / "wheels"
    wheels.mkdir(parents=True)
    for number in range(5):
        make_wheel(wheels, f"localpkg{number}", "1.0", {f"localpkg{number}/__init__.py": f"N = {number}\n"})
    (folder / "requirements.txt").write_text("--find-links ./wheels\nlocalpkg0==1.0\n")
    (folder / "environment.yml").write_text(f"image: {base}\npip: requirements.txt\n")
    return folder / "environment.yml"


def provider_up(definition: Path, repository: str) -> dict:
    """check then create, as the engine calls them, with the definition's fields as inputs."""
    provider = EnvironmentProvider()
    folder = definition.parent
    with watching(folder) as load_counts:
        spec = load_file(definition)
    from mlenv.identity.canonical import to_mapping

    news = {**to_mapping(spec), "repository": repository}
    with watching(folder) as check_counts:
        checked = provider.check({}, news)
    assert not checked.failures, checked.failures
    with watching(folder) as create_counts:
        provider.create(checked.inputs)
    with watching(folder) as hash_counts:
        for _ in range(3):
            definition_hash(spec)
    return {"program load": load_counts, "provider check": check_counts, "provider create": create_counts, "hash x3": hash_counts}


def main() -> None:
    services.ensure_dockerd()
    with tempfile.TemporaryDirectory(prefix="mlenv-reads-") as work:
        work = Path(work).resolve()
        os.environ["MLENV_CACHE_DIR"] = str(work / "cache")
        registry = services.start_registry(work / "registry")
        index = services.start_pypiserver(services.ensure_wheelhouse(), work / "pypiserver")
        os.environ["MLENV_INDEX_URL"] = index.url
        previous = os.getcwd()
        os.chdir(work)  # relative paths the builders open (dir_fd) resolve outside the watched folders
        try:
            base = f"{registry.host}/base/python:3.11-bookworm"
            import_rootfs(services.ensure_base_rootfs(), base)
            cases = {
                "build context (20 files + Dockerfile + .dockerignore)": context_definition(work / "ctx", base),
                "requirements + --find-links folder (5 wheels)": find_links_definition(work / "links", base),
            }
            for name, definition in cases.items():
                print(name)
                for phase, counts in provider_up(definition, f"{registry.host}/bench/reads").items():
                    print(f"  {phase:16s} {summary(counts)}")
        finally:
            os.chdir(previous)
            index.stop()
            registry.stop()


if __name__ == "__main__":
    main()
