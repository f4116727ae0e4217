"""Rules over a whole definition: what Azure ML rejects or warns about, mapped onto our model.

`findings(spec)` returns every error and warning at once (a reviewer fixes them in one round); each
names the field, the value and the fix. Errors stop `pulumi preview` (CheckFailures) and
`mlenv validate`; warnings reach the user as Pulumi warnings and CLI warnings, and build anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlenv.definition.conda_file import exact_python, python_match_spec
from mlenv.diagnostics.errors import SpecError, SpecWarning
from mlenv.definition.requirement_syntax import has_exact_pin
from mlenv.definition.model import EnvironmentSpec

RESERVED_PREFIXES = ("azureml", "microsoft", "mlenv:")
MAX_NAME = 255
MAX_DOCKERFILE_BYTES = 100 * 1024


@dataclass
class Findings:
    errors: list[SpecError] = field(default_factory=list)
    warnings: list[SpecWarning] = field(default_factory=list)

    def raise_first(self) -> None:
        if self.errors:
            raise self.errors[0]


def findings(spec: EnvironmentSpec, locked_versions: dict[str, str] | None = None) -> Findings:
    """All problems of a parsed definition. `locked_versions` (name → version) lets the unpinned-package
    warning say what the lock will pick; see `mlenv.lock.preview_versions`."""
    found = Findings(warnings=list(spec.notes))
    for rule in (_name, _docker_definition, _build_context_exclusive, _dockerfile_exclusive, _user_managed, _os_type, _conda_file, _python_version, _registry_login, _dockerfile_size, _builder):
        for problem in rule(spec):
            (found.warnings if isinstance(problem, SpecWarning) else found.errors).append(problem)
    found.warnings += _mutable_base(spec) + _unpinned(spec, locked_versions or {})
    return found


def _name(spec):
    lowered = spec.name.lower()
    for prefix in RESERVED_PREFIXES:
        if lowered.startswith(prefix):
            yield SpecError("name", f"the prefix '{spec.name[:len(prefix)]}' is reserved (curated environments)", "choose a name that does not start with AzureML, Microsoft or mlenv:", spec.name)
    if len(spec.name) > MAX_NAME:
        yield SpecError("name", f"is {len(spec.name)} characters long, over the limit of {MAX_NAME}", f"shorten it to at most {MAX_NAME} characters")


def _docker_definition(spec):
    sources = [key for key, value in (("image", spec.image), ("dockerfile", spec.dockerfile), ("build", spec.build)) if value]
    if spec.curated:
        if sources:
            yield SpecError("curated", f"a curated environment cannot be combined with {', '.join(sources)}", "use the curated reference alone, or define the environment yourself", spec.curated)
        return
    if not sources:
        yield SpecError("image", "no Docker definition: a base image, a Dockerfile or a build context is required",
                        "set image (e.g. registry.example/base/python:3.11-bookworm), dockerfile, or build: {path: ./context}")
    elif len(sources) > 1:
        yield SpecError(" and ".join(sources), "more than one Docker definition", "keep exactly one of image, dockerfile and build (a Dockerfile's FROM line names its base image)")


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


def _python_version(spec):
    if spec.conda is None:
        return
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


def _registry_login(spec):
    """Both or neither; a file names only the username (its password comes as a secret at build)."""
    login = spec.base_registry
    if login.password and not login.username or login.username and not login.password and not spec.from_file:
        missing = "password" if login.username else "username"
        yield SpecError(f"docker.base_image_registry.{missing}", "registry credentials need both a username and a password", f"set the {missing} too (the password as a secret), or neither")


def _dockerfile_size(spec):
    if spec.dockerfile and len(spec.dockerfile.encode()) > MAX_DOCKERFILE_BYTES:
        yield SpecError("dockerfile", f"is {len(spec.dockerfile.encode())} bytes, over the limit of {MAX_DOCKERFILE_BYTES}", "move large content into files of a build context and COPY them")


def _builder(spec):
    """What this release cannot build yet is an error now, in preview, not after a long resolve."""
    docker = [key for key, value in (("dockerfile", spec.dockerfile), ("build", spec.build), ("docker.steps", spec.steps)) if value]
    if docker and spec.builder == "oci":
        yield SpecError("builder", f"the daemonless builder cannot run {docker[0]}", "set builder: docker (or leave builder unset), or remove the Docker instructions", spec.builder)
    if spec.conda and spec.conda.packages:
        yield SpecError("conda.dependencies", f"conda packages ({', '.join(spec.conda.packages[:3])}{', …' if len(spec.conda.packages) > 3 else ''}) need a conda builder, which this release does not include",
                        "install Python packages through pip (the conda file's pip: section), or use a base image that already holds them")
    if spec.spark.packages:
        yield SpecError("spark.packages", "no builder installs Spark packages yet", "bake the jars into the base image, or remove the spark section")
    if spec.curated:
        from mlenv.definition.curated import resolve_curated

        try:
            resolve_curated(spec.curated)
        except SpecError as error:
            yield error


def _mutable_base(spec) -> list[SpecWarning]:
    if not spec.image or spec.image.startswith("oci:") and spec.image.count(":") == 1:
        return []
    from mlenv.definition.reference import parse_reference

    try:
        ref = parse_reference(spec.image)
    except SpecError:
        return []
    if ref.digest:
        return []
    tag = ref.tag or "latest"
    implied = "" if ref.tag else " (no tag or digest: latest is implied)"
    if tag == "latest" or not ref.tag:
        return [SpecWarning("image", f"mutable tag '{tag}'{implied}: the base can change under the same definition", f"pin a version tag or a digest: {ref.repository}@sha256:...", spec.image)]
    return []


def _unpinned(spec, locked: dict[str, str]) -> list[SpecWarning]:
    from packaging.utils import canonicalize_name

    warnings = []
    for requirement in spec.pip.requirements:
        if not has_exact_pin(requirement):
            name = canonicalize_name(requirement.name)
            will = f"it would lock to {name}=={locked[name]} today" if name in locked else "it locks to the newest matching version at the first build"
            warnings.append(SpecWarning(f"pip.{name}", f"unpinned ({requirement}): {will}", f"pin it ({name}=={locked.get(name, 'X.Y.Z')}) so a rebuild elsewhere gets the same version"))
    for package in spec.conda.packages if spec.conda else ():
        if not any(op in package for op in ("=", "<", ">")):
            warnings.append(SpecWarning(f"conda.{package}", "unpinned: conda picks the newest version at build time", f"pin it, e.g. {package}=X.Y"))
    return warnings
