"""A solved conda environment as image layers, installed on the host for the image's prefix.

rattler installs every package into a staging folder with its files relocated for the image prefix
(`alternative_target_prefix`, link scripts never run), so conda never runs in the image and no host
path reaches it. Each package then becomes its own layer: its files plus its `conda-meta` record,
cleaned of host paths (where it was extracted, the tarball, the link source) and of what depends on
the rest of the environment (the requested spec). So one package gives one layer digest in every
environment that holds it, a one-pin change pushes only the changed packages, and the prefix still
reads as a conda environment (`conda list -p`, mamba, pixi) with an empty, deterministic history.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable

from mlenv.cache import cache_root
from mlenv.diagnostics.errors import BuildError
from mlenv.digests import cache_key
from mlenv.resolve.conda_lock import CondaLock, CondaRecord, is_rattler_error, run_async
from mlenv.resolve.target import PythonFacts

HOST_KEYS = ("extracted_package_dir", "package_tarball_full_path", "link", "requested_spec", "requested_specs", "indexed_timestamp")
RATTLER_MARKERS = {"CACHEDIR.TAG"}  # rattler's own marker files, not part of the environment
CONDA_LAYER_BUDGET = 32  # of the image's layers; the pip section on top gets the rest


def layer_key(group: list[CondaRecord], lock: CondaLock, prefix: str, builder: str) -> str:
    """A layer's cache key: its packages' bytes and URLs (conda-meta records them), the prefix they
    are relocated to, and for noarch python packages the Python they are installed for."""
    python = lock.python()
    parts = [builder, "conda", prefix, *(f"{r.sha256} {r.url}" for r in group)]  # the URL is in conda-meta
    if any(r.noarch == "python" for r in group) and python:
        parts.append(python.sha256)
    return cache_key(parts)


def install(rattler_records: list, archives: dict[str, Path], stage: Path, prefix: str) -> None:
    """Install the solved records from the cached archives into `stage`, relocated for `prefix`."""
    import rattler

    for record in rattler_records:
        record.url = archives[record.name.normalized].as_uri()
    with tempfile.TemporaryDirectory(prefix="mlenv-conda-pkgs-") as package_cache:
        try:
            run_async(rattler.install(rattler_records, target_prefix=stage, cache_dir=Path(package_cache),
                                        platform=rattler.Subdir("linux-64"), execute_link_scripts=False,
                                        show_progress=False, alternative_target_prefix=prefix))
        except Exception as error:
            if not is_rattler_error(error):
                raise
            raise BuildError("conda", f"installing the environment failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
                             "report it with the saved log; the packages may be damaged or not relocatable", rule="conda.unsatisfiable", output=str(error)) from None


def package_files(stage: Path) -> dict[str, tuple[list[str], dict, str]]:
    """For each installed package name: its files (relative), its cleaned conda-meta record and
    that record's file name."""
    found = {}
    for meta in sorted((stage / "conda-meta").glob("*.json")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        found[data["name"]] = ([str(f) for f in data.get("files", [])], data, meta.name)
    return found


def clean_record(data: dict, record: CondaRecord) -> bytes:
    """The conda-meta record as the image shows it: public URL and channel, no host path, no
    environment-specific fields, keys sorted."""
    cleaned = {k: v for k, v in data.items() if k not in HOST_KEYS}
    cleaned["url"], cleaned["channel"] = record.url, record.channel
    return (json.dumps(cleaned, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def populate_group(tree, stage: Path, prefix: str, group: list[CondaRecord], installed: dict) -> None:
    """A layer's tree: each package's files, read from the stage when the tar is written, and its
    cleaned record."""
    env = prefix.lstrip("/")
    for record in group:
        files, data, meta_name = installed[record.name]
        for relative in files:
            _add(tree, stage / relative, f"{env}/{relative}")
        tree.add_dir(f"{env}/conda-meta")
        tree.add_file(f"{env}/conda-meta/{meta_name}", clean_record(data, record))


def populate_skeleton(tree, stage: Path, prefix: str, installed: dict) -> None:
    """The environment's own layer: `conda-meta/history` (empty: conda needs it to call the folder an
    environment) and any file rattler made that no package owns."""
    env = prefix.lstrip("/")
    tree.add_dir(f"{env}/conda-meta")
    tree.add_file(f"{env}/conda-meta/history", b"")
    owned = {f for files, _, _ in installed.values() for f in files}
    for path in sorted(stage.rglob("*")):
        relative = path.relative_to(stage).as_posix()
        if relative.startswith("conda-meta") or relative in owned or relative in RATTLER_MARKERS or path.is_dir() and not path.is_symlink():
            continue
        _add(tree, path, f"{env}/{relative}")


def _add(tree, source: Path, path: str) -> None:
    if source.is_symlink():
        tree.add_symlink(path, os.readlink(source))
    else:
        tree.add_file(path, source, executable=bool(source.stat().st_mode & 0o100))


def staging_dir() -> Path:
    folder = cache_root() / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="conda-", dir=folder))


def pack_environment(lock: CondaLock, rattler_records: list, archives: dict[str, Path], *, prefix: str,
                     pack: Callable, builder: str) -> list:
    """Every layer of the conda environment: the skeleton first, then the package groups, packed by
    `pack` (oci/layers.py `pack_layers`). A layer already in the cache is reused; the environment is
    installed only if some layer is missing."""
    from mlenv.builders.pip_layers import plan_layers
    from mlenv.oci.layers import LayerJob

    groups = plan_layers(list(lock.records), CONDA_LAYER_BUDGET)
    stage = _LazyStage(rattler_records, archives, prefix)
    try:
        every = [r.sha256 for r in lock.records]
        jobs = [LayerJob(cache_key([builder, "conda-skeleton", prefix, every]), f"mlenv: conda environment {prefix}",
                         lambda tree: populate_skeleton(tree, stage.path(), prefix, stage.installed()))]
        for group in groups:
            label = "mlenv: conda install " + " ".join(f"{r.name}={r.version}={r.build}" for r in group)
            jobs.append(LayerJob(layer_key(group, lock, prefix, builder), label,
                                 lambda tree, group=group: populate_group(tree, stage.path(), prefix, group, stage.installed()),
                                 weight=sum(r.size for r in group)))
        return pack(jobs)
    finally:
        stage.remove()


class _LazyStage:
    """The environment installed into a staging folder on first use: a rebuild whose layers are all
    cached installs nothing."""

    def __init__(self, rattler_records: list, archives: dict[str, Path], prefix: str):
        self.records, self.archives, self.prefix = rattler_records, archives, prefix
        self._path, self._installed, self._lock = None, None, threading.Lock()

    def path(self) -> Path:
        with self._lock:  # layers are packed on several threads: the first to need it installs
            if self._path is None:
                path = staging_dir()
                install(self.records, self.archives, path, self.prefix)
                self._installed, self._path = package_files(path), path
        return self._path

    def installed(self) -> dict:
        self.path()
        return self._installed

    def remove(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)


def solve_environment(request, base, base_store) -> tuple[CondaLock, list, PythonFacts | None]:
    """The conda lock for the base image (its glibc), rattler's records for the install, and the
    Python the environment brings (the pip section on top is resolved for it)."""
    from mlenv.definition.model import ENV_PREFIX
    from mlenv.oci.base_image import base_glibc
    from mlenv.resolve.conda_lock import solve
    from mlenv.resolve.conda_target import CondaTarget

    spec, log = request.spec, request.log
    glibc = base_glibc(base, base_store)
    target = CondaTarget.for_image(glibc)
    log(f"solving conda packages for {target.subdir} ({', '.join('='.join(v[:2]) for v in target.virtual_packages())})")
    lock, records = solve(spec.conda, target, python_version=spec.python.version, cache_dir=str(cache_root() / "conda-repodata"))
    log(f"locked {len(lock.records)} conda packages: " + ", ".join(r.pin for r in lock.records))
    python = lock.python()
    if python:
        minor = ".".join(python.version.split(".")[:2])
        return lock, records, PythonFacts(version=minor, interpreter=f"{ENV_PREFIX}/bin/python{minor}", glibc=glibc)
    if spec.pip.installs_anything:
        raise BuildError("conda.dependencies", "the environment has pip packages but its conda packages bring no Python",
                         "add python=3.X to the conda dependencies", rule="image.no-python")
    return lock, records, None


def pack_conda(lock: CondaLock, records: list, log, *, compressor=None, on_layer: Callable | None = None) -> list:
    """Download (verified) and pack the solved environment into its layers."""
    from mlenv.definition.model import ENV_PREFIX
    from mlenv.identity.hashing import BUILDER_VERSION
    from mlenv.oci.compression import GZIP
    from mlenv.oci.layers import pack_layers
    from mlenv.resolve.conda_download import fetch_packages

    archives = fetch_packages(list(lock.records), {r.name.normalized: str(r.url) for r in records}, log)
    return pack_environment(lock, records, archives, prefix=ENV_PREFIX, builder=BUILDER_VERSION,
                            pack=lambda jobs: pack_layers(jobs, compressor=compressor or GZIP, on_layer=on_layer))
