"""The Docker builder: the engine builds (a build context, Dockerfile text, or base + pip + Docker
steps, builders/docker/recipe.py); `docker save` comes back as our parts (saved_image.py), the base's
layers reused when the image starts with them, and the pipeline publishes it like any of ours."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from mlenv.builders.docker import engine as docker
from mlenv.builders.docker.recipe import prepare
from mlenv.builders.docker.saved_image import image_parts, save_over_base
from mlenv.builders.request import BuildRequest, ImageParts
from mlenv.oci import image as img
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
                             secrets=recipe.secrets, log=log, registry_config=recipe.docker_config)
            if spec.verify:
                docker.verify(client, build_tag, spec.verify, log)
            saved = save_over_base(client, build_tag, work, recipe.base)
            layers, config, base = image_parts(saved, recipe.base, work)
            lock = Lock(recipe.base.digest if recipe.base else None, recipe.python, tuple(recipe.wheels))
            return ImageParts(base=base, base_store=recipe.base_store, layers=tuple(layers), config=config, lock=lock,
                              verified=True, resources=resources.pop_all())
