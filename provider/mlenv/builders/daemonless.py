"""The daemonless builder (`oci`): no Docker engine. The base image is read from its registry, the
wheels are resolved for its Python and installed on the host into deterministic layers on top of the
base's own layers (builders/pip_layers.py), so the same lock gives the same image on any machine."""

from __future__ import annotations

from contextlib import ExitStack

from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.definition.reference import parse_reference
from mlenv.oci import image as img
from mlenv.oci.base_image import python_facts, resolve_base
from mlenv.oci.store import open_store
from mlenv.resolve.lock import Lock
from mlenv.resolve.target import check_python


class DaemonlessBuilder:
    def build(self, request: BuildRequest) -> ImageParts:
        spec, log = request.spec, request.log
        base_ref = parse_reference(spec.image)
        with ExitStack() as resources:
            base_store = open_store(base_ref, request.base_credentials(base_ref))
            resources.callback(base_store.close)
            base = resolve_base(base_ref, base_store)
            python, wheels, layers = None, [], []
            if not spec.python.user_managed_dependencies:  # else: bring your own container, install nothing
                python = python_facts(base, base_store)
                log(f"base {base_ref} ({base.digest[:19]}): Python {python.version}, glibc {python.glibc}")
                check_python(spec.python.version, python)
                wheels, layers = _pip_layers(request, python)
            config = img.build_config(base, layers, spec.variables, venv=python is not None)
            lock = Lock(base.digest, python, tuple(wheels))
            return ImageParts(base=base, base_store=base_store, layers=tuple(layers), config=config, lock=lock, resources=resources.pop_all())


def _pip_layers(request: BuildRequest, python) -> tuple[list, list]:
    """The locked wheels, and the layers: the venv skeleton, then the wheels in their planned groups."""
    from mlenv.builders.pip_layers import overlap_warnings, package_layer, plan_layers, venv_layer
    from mlenv.resolve.pip_lock import resolve
    from mlenv.resolve.wheel_download import fetch_wheels

    wheels = resolve(request.spec.pip, python, request.index)
    request.log(f"locked {len(wheels)} packages: " + ", ".join(w.pin for w in wheels))
    files = fetch_wheels(wheels, request.index)
    groups = plan_layers(wheels)
    for line in overlap_warnings(groups, files):
        request.log(f"warning: {line}")
    layers = [venv_layer(python.version, python.interpreter)]
    layers += [package_layer(group, files, python.version) for group in groups]
    return wheels, layers
