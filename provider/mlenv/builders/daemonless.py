"""The daemonless builder (`oci`): no Docker engine. The base image is read from its registry, the
wheels are resolved for its Python and installed on the host into deterministic layers on top of the
base's own layers (builders/pip_layers.py), so the same lock gives the same image on any machine."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

from mlenv.builders.created import image_created
from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.builders.bytecode import NONE, bytecode_decision
from mlenv.builders.venv import venv_requirements
from mlenv.definition.reference import parse_reference
from mlenv.oci import image as img
from mlenv.oci.base_image import python_facts, resolve_base
from mlenv.oci.compression import compressor_for
from mlenv.oci.store import open_base_store
from mlenv.resolve.lock import Lock
from mlenv.resolve.target import check_python


@dataclass
class Resolved:
    """Everything a build installs, resolved and not yet installed: what `mlenv lock` writes."""

    base: object
    base_store: object
    lock: Lock
    conda_records: list = field(default_factory=list)  # rattler's records, real URLs: for install only
    compiler: object = None  # the host interpreter that compiles the wheels' bytecode (builders/bytecode.py)


class DaemonlessBuilder:
    def build(self, request: BuildRequest) -> ImageParts:
        with ExitStack() as resources:
            resolved = resolve_environment(request, resources)
            lock, spec = resolved.lock, request.spec
            layers, files, compressor = [], {}, compressor_for(spec.compression)
            if lock.conda is not None:  # a conda environment: it brings its own Python
                from mlenv.builders.conda_env import pack_conda

                layers = pack_conda(lock.conda, resolved.conda_records, request.log, compressor=compressor, on_layer=request.on_layer)
            if lock.python is not None and (lock.wheels or lock.conda is None):
                more, files = _pip_layers(request, lock, compressor, venv=lock.conda is None, compiler=resolved.compiler)
                layers += more
            config = img.build_config(resolved.base, layers, spec.variables, venv=lock.python is not None, conda=lock.conda is not None)
            created = image_created(wheel_files=files.values(), conda_records=resolved.conda_records, base=resolved.base)
            return ImageParts(base=resolved.base, base_store=resolved.base_store, layers=tuple(layers), config=config, lock=lock,
                              created=created, resources=resources.pop_all())


def resolve_environment(request: BuildRequest, resources: ExitStack) -> Resolved:
    """The base image, and the exact packages for it: conda records (solved for the base's glibc)
    and wheels (for the environment's Python: conda's, else the base image's)."""
    spec, log = request.spec, request.log
    base_ref = parse_reference(spec.image)
    base_store = open_base_store(base_ref, request.base_credentials(base_ref))
    resources.callback(base_store.close)
    base = resolve_base(base_ref, base_store)
    request.on_base(base, base_store)
    python, conda, records = None, None, []
    if spec.conda and spec.conda.packages:
        from mlenv.builders.conda_env import solve_environment

        conda, records, python = solve_environment(request, base, base_store)
    elif not spec.python.user_managed_dependencies:  # else: bring your own container, install nothing
        python = python_facts(base, base_store)
        log(f"base {base_ref} ({base.digest[:19]}): Python {python.version}, glibc {python.glibc}")
        check_python(spec.python.version, python)
    pip = spec.pip if conda else venv_requirements(spec)  # a conda environment's pip is conda's
    compiler = bytecode_decision(python.version, log) if python and pip.installs_anything else None
    wheels = _resolve_wheels(request, python, pip, compiler) if python and pip.installs_anything else []
    compiler = compiler if wheels else None
    bytecode = (compiler.version if compiler else NONE) if wheels else None
    return Resolved(base, base_store, Lock(base.digest, python, tuple(wheels), conda, bytecode), records, compiler)


def _resolve_wheels(request: BuildRequest, python, pip, compiler=None) -> list:
    """The locked wheels; uv is handed the bytecode compiler's interpreter (the one it would find on
    PATH, without running a version manager's shim to find it)."""
    from mlenv.resolve.pip_lock import resolve

    wheels = resolve(pip, python, request.index, interpreter=compiler.path if compiler else None)
    request.log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
    return wheels


def _pip_layers(request: BuildRequest, lock: Lock, compressor, *, venv: bool = True, compiler=None) -> tuple[list, dict]:
    """The layers of the locked wheels (builders/pip_layers.py; with a compiler, their bytecode), packed
    on the worker pool; and the wheel files by name."""
    from mlenv.builders.pip_layers import overlap_warnings, pip_jobs, plan_layers
    from mlenv.oci.layers import pack_layers
    from mlenv.resolve.wheel_download import fetch_wheels

    wheels = list(lock.wheels)
    files = fetch_wheels(wheels, request.index)
    groups = plan_layers(wheels)
    for line in overlap_warnings(groups, files):
        request.log(f"warning: {line}")
    jobs = pip_jobs(groups, files, lock.python, venv=venv, compiler=compiler)
    return pack_layers(jobs, compressor=compressor, on_layer=request.on_layer), files
