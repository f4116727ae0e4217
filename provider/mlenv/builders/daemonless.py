"""The daemonless builder (`oci`): no Docker engine. The base image is read from its registry, the
wheels are resolved for its Python and installed on the host into deterministic layers on top of the
base's own layers (builders/pip_layers.py), so the same lock gives the same image on any machine."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.definition.reference import parse_reference
from mlenv.oci import image as img
from mlenv.oci.base_image import python_facts, resolve_base
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


class DaemonlessBuilder:
    def build(self, request: BuildRequest) -> ImageParts:
        with ExitStack() as resources:
            resolved = resolve_environment(request, resources)
            lock, spec = resolved.lock, request.spec
            layers = []
            if lock.conda is not None:  # a conda environment: it brings its own Python
                from mlenv.builders.conda_env import pack_conda

                layers = pack_conda(lock.conda, resolved.conda_records, request.log, on_layer=request.on_layer)
            if lock.python is not None and (lock.wheels or lock.conda is None):
                layers += _pip_layers(request, lock, venv=lock.conda is None)
            config = img.build_config(resolved.base, layers, spec.variables, venv=lock.python is not None, conda=lock.conda is not None)
            return ImageParts(base=resolved.base, base_store=resolved.base_store, layers=tuple(layers), config=config, lock=lock,
                              resources=resources.pop_all())


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
    wheels = _resolve_wheels(request, python) if python and spec.pip.installs_anything else []
    return Resolved(base, base_store, Lock(base.digest, python, tuple(wheels), conda), records)


def _resolve_wheels(request: BuildRequest, python) -> list:
    from mlenv.resolve.pip_lock import resolve

    wheels = resolve(request.spec.pip, python, request.index)
    request.log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
    return wheels


def _pip_layers(request: BuildRequest, lock: Lock, *, venv: bool = True) -> list:
    """The layers of the locked wheels: the venv skeleton (not for a conda environment, whose prefix
    is the environment), then the wheels in their planned groups."""
    from mlenv.builders.pip_layers import overlap_warnings, package_layer, plan_layers, venv_layer
    from mlenv.resolve.wheel_download import fetch_wheels

    python, wheels = lock.python, list(lock.wheels)
    files = fetch_wheels(wheels, request.index)
    groups = plan_layers(wheels)
    for line in overlap_warnings(groups, files):
        request.log(f"warning: {line}")
    layers = [request.on_layer(venv_layer(python.version, python.interpreter))] if venv else []
    return layers + [request.on_layer(package_layer(group, files, python.version)) for group in groups]
