"""Rules over a whole definition: what Azure ML rejects or warns about, mapped onto our model.

`findings(spec)` returns every error and warning at once (a reviewer fixes them in one round); each
names the field, the value and the fix. One rule set for both shells: errors stop `mlenv validate`
and `pulumi preview` (CheckFailures) alike; warnings reach the user as CLI warnings and Pulumi
warnings, and build anyway. What this release cannot build yet (`_not_built_yet`) is the one
difference: `building=True` (preview, build) refuses it, `mlenv validate` only warns about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlenv.definition import curated
from mlenv.definition.azureml_v1 import SAVED_SOURCE
from mlenv.diagnostics.errors import SpecError, SpecWarning
from mlenv.definition.requirement_syntax import has_exact_pin
from mlenv.definition.model import EnvironmentSpec, builder_of

AZUREML_PREFIXES = ("azureml", "microsoft")  # Azure ML's curated environments
RESERVED_PREFIXES = (*AZUREML_PREFIXES, "mlenv:")
MAX_NAME = 255
MAX_DOCKERFILE_BYTES = 100 * 1024


@dataclass
class Findings:
    errors: list[SpecError] = field(default_factory=list)
    warnings: list[SpecWarning] = field(default_factory=list)

    def raise_first(self) -> None:
        if self.errors:
            raise self.errors[0]


def findings(spec: EnvironmentSpec, locked_versions: dict[str, str] | None = None, *, building: bool = False) -> Findings:
    """All problems of a parsed definition. `locked_versions` (name → version) lets the unpinned-package
    warning say what the lock will pick (see `mlenv.resolve.pip_lock.preview_versions`). `building`:
    asked by preview or a build, where what this release cannot build yet is an error, not a warning."""
    found = Findings(warnings=list(spec.notes))
    for rule in (_name, _docker_definition, _build_context_exclusive, _dockerfile_exclusive, _user_managed, _os_type, _conda_file, _python_version, _registry_login, _dockerfile_size, _builder, _compression):
        for problem in rule(spec):
            (found.warnings if isinstance(problem, SpecWarning) else found.errors).append(problem)
    for problem in _not_built_yet(spec):
        if building:
            found.errors.append(problem)
        else:
            found.warnings.append(SpecWarning(problem.where, problem.problem, problem.fix, problem.value))
    found.warnings += _mutable_base(spec) + _unpinned(spec, locked_versions or {})
    return found


def _name(spec):
    """Azure ML refuses to register an environment named AzureML… or Microsoft… (its curated ones'
    prefixes), and `mlenv:` names our curated references: an error in a definition being written. A
    file the v1 SDK saved keeps the name of what it was saved from, a curated environment's too: there
    the name is only metadata (nothing is registered), so an Azure ML prefix is a warning."""
    lowered = spec.name.lower()
    for prefix in RESERVED_PREFIXES:
        if not lowered.startswith(prefix):
            continue
        written = spec.name[:len(prefix)]
        hint = f"; {curated.counterpart_hint(spec.name)}" if prefix in AZUREML_PREFIXES else ""
        if spec.source == SAVED_SOURCE and prefix in AZUREML_PREFIXES:
            yield SpecWarning("name", f"the prefix '{written}' is reserved for curated environments in Azure ML; this file was saved from one, "
                              "and the name is kept here as metadata (it does not change the image)",
                              f"give the environment a name of its own before registering it in Azure ML{hint}", spec.name)
        else:
            yield SpecError("name", f"the prefix '{written}' is reserved (curated environments)", f"choose a name that does not start with AzureML, Microsoft or mlenv:{hint}", spec.name)
    if spec.name and not spec.curated and lowered in curated.names():
        yield SpecError("name", "is the name of a curated environment", f"build it as mlenv:{lowered}@latest, or choose another name", spec.name)
    if len(spec.name) > MAX_NAME:
        yield SpecError("name", f"is {len(spec.name)} characters long, over the limit of {MAX_NAME}", f"shorten it to at most {MAX_NAME} characters")


def _docker_definition(spec):
    sources = [key for key, value in (("image", spec.image), ("dockerfile", spec.dockerfile), ("build", spec.build)) if value]
    if not sources and missing_base_image(spec):
        yield missing_base_image(spec)
    elif not sources:
        yield SpecError("image", "no Docker definition: a base image, a Dockerfile or a build context is required",
                        "set image (e.g. registry.example/base/python:3.11-bookworm), dockerfile, or build: {path: ./context}")
    elif len(sources) > 1:
        yield SpecError(" and ".join(sources), "more than one Docker definition", "keep exactly one of image, dockerfile and build (a Dockerfile's FROM line names its base image)")


def missing_base_image(spec) -> SpecError | None:
    """A bare file or an MLflow model names no base image: it comes from outside, and nothing gave one."""
    if spec.source and not (spec.image or spec.dockerfile or spec.build or spec.curated):
        return SpecError("image", f"{spec.source} names no base image",
                         "pass --image IMAGE (e.g. python:3.11-slim) or set $MLENV_BASE_IMAGE; in Pulumi, give image=...")
    return None


def _packages_given(spec) -> list[str]:
    return [key for key, given in (("conda", spec.conda), ("pip", spec.pip.installs_anything)) if given]


def _build_context_exclusive(spec):
    if not spec.build:
        return
    for key in [*_packages_given(spec), *(["variables"] if spec.variables else [])]:
        yield SpecError(key, "cannot apply to a Docker build context: the context's Dockerfile defines the whole image",
                        f"move {key} into the Dockerfile (e.g. RUN pip install ... / ENV ...), or use image with {key} instead of build")


def _dockerfile_exclusive(spec):
    if not spec.dockerfile:
        return
    for key in _packages_given(spec):
        yield SpecError(key, "cannot apply to Dockerfile text: the Dockerfile's base is not known before it is built",
                        f"install {key} packages in the Dockerfile, or use image with {key} and docker.steps instead of dockerfile")


def _user_managed(spec):
    if not spec.python.user_managed_dependencies:
        return
    for key in _packages_given(spec):
        yield SpecError(key, "is given with python.user_managed_dependencies: true, which installs nothing",
                        f"remove {key} (the image already holds your packages) or set user_managed_dependencies: false")


def _os_type(spec):
    if spec.os_type.lower() != "linux":
        yield SpecError("os_type", "only Linux images are built", "set os_type: linux", spec.os_type)


def _conda_file(spec):
    if spec.conda is None:
        return
    if not spec.conda.channels:
        yield SpecWarning("conda.channels", "no channels: conda falls back to the installer's default channels, which differ between machines",
                          "list the channels explicitly, e.g. channels: [conda-forge]")
    if not (spec.conda.packages or spec.conda.python_specs or spec.conda.pip_lines):
        yield SpecError("conda.dependencies", "the conda specification has no dependencies", "list at least python=3.X under dependencies, or remove the conda file")
    if "defaults" in spec.conda.channels and spec.conda.packages:
        yield SpecWarning("conda.channels", "defaults is Anaconda's own channel (its terms of service apply), not conda-forge; "
                          "mlenv reads it from $MLENV_CONDA_DEFAULTS_URL (else the .condarc's default_channels, else repo.anaconda.com/pkgs/main)",
                          "list conda-forge instead, or set MLENV_CONDA_DEFAULTS_URL to your mirror of it")


def _python_version(spec):
    if spec.conda is None:
        return
    from mlenv.definition.conda_file import exact_python, python_match_spec

    specs = spec.conda.python_specs
    exact = {exact_python(s) for s in specs} - {None}
    if len(specs) > 1 and len(set(specs)) > 1:
        yield SpecError("conda.dependencies", f"ambiguous Python version: python is listed {len(specs)} times ({', '.join(map(python_match_spec, specs))})", "keep one entry, e.g. python=3.11")
    elif spec.python.version and exact and not any(v == spec.python.version or v.startswith(spec.python.version + ".") for v in exact):
        yield SpecError("python.version", f"ambiguous Python version: {spec.python.version} here, {', '.join(sorted(exact))} in the conda file", "make them agree, or drop python.version", spec.python.version)
    elif not specs and not spec.python.version:
        yield SpecWarning("conda.dependencies", "missing Python version: the base image's Python is used, whatever it is", "pin it, e.g. add python=3.11 to the dependencies")
    elif specs and not exact:
        yield SpecWarning("conda.dependencies", f"ambiguous Python version: {python_match_spec(specs[0])} does not pick one minor version", "pin it, e.g. python=3.11")


BASE_LOGIN_FIX = ("give the login where a secret can go: in Pulumi, docker=DockerSection(base_image_registry="
                  "RegistrySection(username=..., password=config.require_secret(...))); with the CLI, leave it out of the "
                  "definition and set MLENV_BASE_REGISTRY_USERNAME / MLENV_BASE_REGISTRY_PASSWORD, or run `docker login HOST` "
                  "(mlenv reads Docker's config and its credential helpers)")


def _registry_login(spec):
    """Both halves or neither, wherever the definition came from: a password never comes from a file,
    so a username alone in a file is half a login in `mlenv validate` and in preview alike."""
    login = spec.base_registry
    if bool(login.username) != bool(login.password):
        missing = "password" if login.username else "username"
        yield SpecError(f"docker.base_image_registry.{missing}", f"registry credentials need both a username and a password, and the {missing} is missing",
                        BASE_LOGIN_FIX)


def _dockerfile_size(spec):
    if spec.dockerfile and len(spec.dockerfile.encode()) > MAX_DOCKERFILE_BYTES:
        yield SpecError("dockerfile", f"is {len(spec.dockerfile.encode())} bytes, over the limit of {MAX_DOCKERFILE_BYTES}", "move large content into files of a build context and COPY them")


def _compression(spec):
    """zstd layers are the daemonless builder's: the Docker builder's layers are the engine's, gzipped."""
    if spec.compression and builder_of(spec) == "docker":
        yield SpecError("compression", "only the daemonless builder packs zstd layers; this definition is built by Docker",
                        "remove compression, or build without Docker instructions (builder: oci)", spec.compression)


def _builder(spec):
    """Instructions the chosen builder cannot run: errors in `mlenv validate` and preview alike (unlike
    `_not_built_yet`)."""
    docker = [key for key, value in (("dockerfile", spec.dockerfile), ("build", spec.build), ("docker.steps", spec.steps)) if value]
    if docker and spec.builder == "oci":
        yield SpecError("builder", f"the daemonless builder cannot run {docker[0]}", "set builder: docker (or leave builder unset), or remove the Docker instructions", spec.builder)


def _not_built_yet(spec):
    """What no builder of this release installs: refused by preview and build, only a warning in
    `mlenv validate`."""
    if spec.spark.packages:
        yield SpecError("spark.packages", "no builder installs Spark packages yet, so preview and build refuse them", "bake the jars into the base image, or remove the spark section")


def _mutable_base(spec) -> list[SpecWarning]:
    """Any registry tag can be pushed again, `3.11-bookworm` as much as `latest`: only a digest pins
    the base (the hash counts the reference as written, not what it points to). A local layout
    (`oci:PATH:tag`) has no digest syntax, so it is not warned about."""
    if not spec.image or spec.image.startswith("oci:"):
        return []
    from mlenv.definition.reference import parse_reference

    try:
        ref = parse_reference(spec.image)
    except SpecError:
        return []
    if ref.digest:
        return []
    implied = "" if ref.tag else " (no tag or digest: latest is implied)"
    return [SpecWarning("image", f"mutable tag '{ref.tag or 'latest'}'{implied}: the base can change under the same definition",
                        f"pin the digest: {ref.repository}@sha256:... (a tag names no fixed image)", spec.image)]


def _unpinned(spec, locked: dict[str, str]) -> list[SpecWarning]:
    from packaging.utils import canonicalize_name

    warnings = []
    for requirement in (*spec.pip.requirements, *templated_requirements(spec)):
        if not has_exact_pin(requirement):
            name = canonicalize_name(requirement.name)
            will = f"it would lock to {name}=={locked[name]} today" if name in locked else "it locks to the newest matching version at the first build"
            warnings.append(SpecWarning(f"pip.{name}", f"unpinned ({requirement}): {will}", f"pin it ({name}=={locked.get(name, 'X.Y.Z')}) so a rebuild elsewhere gets the same version"))
    return warnings + _unpinned_conda(spec, locked)


def templated_requirements(spec) -> tuple:
    """Requirements an Azure ML asset's build context leaves open (`pkg=={{latest-pypi-version}}`):
    installed by its own Dockerfile, unpinned like any other."""
    return spec.build.templates.requirements if spec.build and spec.build.templates else ()


def unpinned_conda_names(spec) -> list[tuple[str, str]]:
    """(as written with its channel, name) of each conda package given as a bare name (or `name *`);
    any version constraint (`numpy=1.26`, `numpy>=1.20`) is the user's pin. The packages are canonical
    match specs (`numpy 1.26.*`), read back by rattler."""
    if not spec.conda or not spec.conda.packages:
        return []
    from rattler import MatchSpec

    found = []
    for package in spec.conda.packages:
        if MatchSpec(package).version in (None, "*"):
            named = package.split(" ")[0]  # [channel::]name
            found.append((named, named.rsplit("::", 1)[-1]))
    return found


def _unpinned_conda(spec, locked: dict[str, str]) -> list[SpecWarning]:
    warnings = []
    for named, name in unpinned_conda_names(spec):
        version = locked.get(f"conda:{name}")
        will = f"it would lock to {name}={version} today" if version else "conda picks the newest version at build time"
        example = f"{named}={version}" if version else f"{named}=X.Y or \"{named}>=X.Y,<Z\""
        warnings.append(SpecWarning(f"conda.{name}", f"unpinned: {will}", f"pin it in conda syntax, e.g. {example}"))
    return warnings
