"""The Docker builder: the engine builds (a build context, Dockerfile text, or base + pip + Docker
steps, builders/docker/recipe.py); `docker save` comes back as our parts (saved_image.py), the base's
layers reused when the image starts with them, and the pipeline publishes it like any of ours."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from mlenv.builders.created import image_created
from mlenv.builders.docker import engine as docker
from mlenv.builders.docker.recipe import prepare
from mlenv.builders.docker.saved_image import image_parts, save_over_base
from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.oci import image as img
from mlenv.diagnostics.errors import BuildError
from mlenv.resolve.lock import Lock


class DockerBuilder:
    def build(self, request: BuildRequest) -> ImageParts:
        spec, log = request.spec, request.log
        client = docker.engine()
        with ExitStack() as resources:
            work = Path(resources.enter_context(docker.work_dir()))  # our layers live here until published
            recipe = prepare(request, work)
            if recipe.base_store:
                resources.callback(recipe.base_store.close)
            build_tag = f"{docker.BUILD_REPOSITORY}:{request.definition_hash[:32]}"
            docker.run_build(recipe.context, recipe.dockerfile, build_tag, labels={img.DEFINITION_HASH: request.definition_hash},
                             secrets=recipe.secrets, log=log, registry_config=recipe.docker_config,
                             build_args=recipe.build_args)
            conda = bool(spec.conda and spec.conda.packages)
            if spec.verify and not conda:
                docker.verify(client, build_tag, spec.verify, log)
            saved = save_over_base(client, build_tag, work, recipe.base)
            layers, config, base = image_parts(saved, recipe.base, work)
            lock = Lock(recipe.base.digest if recipe.base else None, recipe.python, tuple(recipe.wheels))
            created = image_created(wheel_files=recipe.wheel_files.values(), base=recipe.base)
            if conda:  # the expensive environment stays reproducible and cached whatever Docker does
                lock, config, more, created = _conda_on_top(request, recipe, config)
                layers = [*layers, *more]
            return ImageParts(base=base, base_store=recipe.base_store, layers=tuple(layers), config=config, lock=lock,
                              verified=not conda, created=created, resources=resources.pop_all())


def _conda_on_top(request: BuildRequest, recipe, config: dict) -> tuple[Lock, dict, list, str]:
    """The conda environment and its pip section as daemonless layers on top of the engine's image:
    solved for the base image's glibc, installed on the host, the config extended to match; and the
    image's time, from those packages."""
    from mlenv.builders.conda_env import pack_conda, solve_environment
    from mlenv.builders.pip_layers import pip_jobs, plan_layers
    from mlenv.oci.layers import pack_layers
    from mlenv.resolve.pip_lock import resolve
    from mlenv.resolve.wheel_download import fetch_wheels

    if recipe.base is None:
        raise BuildError("conda", "the Dockerfile's base image cannot be read, so the conda environment cannot be solved for it",
                         "use image + docker.steps (the base is then known), or a Dockerfile FROM an image in a registry", rule="image.not-found")
    conda, records, python = solve_environment(request, recipe.base, recipe.base_store)
    layers = pack_conda(conda, records, request.log, on_layer=request.on_layer)
    wheels = resolve(request.spec.pip, python, request.index) if python and request.spec.pip.installs_anything else []
    files = {}
    if wheels:
        files = fetch_wheels(wheels, request.index)
        layers += pack_layers(pip_jobs(plan_layers(wheels), files, python, venv=False), on_layer=request.on_layer)
    lock = Lock(recipe.base.digest, python, tuple(wheels), conda)
    created = image_created(wheel_files=files.values(), conda_records=records, base=recipe.base)
    return lock, img.extended(config, layers, request.spec.variables, conda=True), layers, created
