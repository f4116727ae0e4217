"""The one model every definition source is parsed into (`mlenv.spec` reads them): what an
environment is, independent of how it was written. Everything downstream sees only this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlenv.diagnostics.errors import SpecWarning
from mlenv.definition.requirements import PipSpec

if TYPE_CHECKING:  # imported by the loader only for a definition that has them
    from mlenv.definition.build_context import BuildContext
    from mlenv.definition.conda_file import CondaSpec

TARGET_PLATFORM = "linux/amd64"
ENV_PREFIX = "/opt/env"  # where the environment lives inside the image (its venv)

# Fields that describe an environment and never enter its hash.
METADATA_FIELDS = ("name", "version", "description", "tags", "os_type", "inference_config")

# The properties of an Environment resource: one list for the SDK (pulumi_mlenv) and the provider.
# The definition's `name` is the property `env_name` (`name` is the Pulumi resource's own).
METADATA_PROPERTIES = ("env_name", *METADATA_FIELDS[1:])
DEFINITION_PROPERTIES = ("image", "dockerfile", "build", "docker", "python", "conda", "pip", "pip_constraints", "spark", "variables", "curated", "builder", "compression", "verify")
# What kind of file the SDK read the definition from, when the rules treat it differently (a file the v1
# SDK saved: its reserved name is metadata); the provider cannot tell from the fields alone.
SOURCE_PROPERTY = "definition_source"
SECRET_PROPERTIES = ("registry_password", "base_image_registry_password")
CREDENTIAL_PROPERTIES = ("registry_username", *SECRET_PROPERTIES)
OUTPUT_PROPERTIES = ("image_ref", "digest", "tag", "tag_ref", "definition_hash", "lock_hash", "packages", "cache_hit", "bytes_pushed", "name", "version", "labels")
# An Environment's own input (not part of the definition): the labels to point at its version.
LABELS_PROPERTY = "labels"


@dataclass(frozen=True)
class PythonSection:
    version: str | None = None  # "3.11": the interpreter the environment needs (from python.version or conda)
    user_managed_dependencies: bool = False  # bring your own container: nothing is installed
    interpreter_path: str | None = None
    pip: bool | str = True  # the venv's pip: the newest (True), none (False) or a specifier ("==24.2")


@dataclass(frozen=True)
class SparkSection:
    repositories: tuple[str, ...] = ()  # order kept: it is priority
    packages: tuple[str, ...] = ()  # Maven coordinates group:artifact:version
    precache_packages: bool = False


@dataclass(frozen=True)
class RegistryLogin:
    """Where the base image is pulled from, and as whom. The password never comes from a file."""

    address: str | None = None
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class EnvironmentSpec:
    image: str | None = None
    dockerfile: str | None = None  # Dockerfile text
    build: BuildContext | None = None
    steps: tuple[str, ...] = ()  # Docker steps, in order
    platform: str = TARGET_PLATFORM
    python: PythonSection = PythonSection()
    conda: CondaSpec | None = None
    pip: PipSpec = PipSpec()
    spark: SparkSection = SparkSection()
    variables: dict[str, str] = field(default_factory=dict)
    base_registry: RegistryLogin = RegistryLogin()
    curated: str | None = None
    builder: str | None = None  # "oci" (daemonless) or "docker"; None: chosen from the definition
    compression: str | None = None  # "zstd": the daemonless builder's layers as tar+zstd; None: gzip (not hashed)
    verify: tuple[str, ...] = ()  # commands run in the built image before it is tagged (not hashed)
    # metadata: never in the hash
    name: str = ""
    version: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    os_type: str = "linux"
    inference_config: dict | None = None
    from_file: bool = False
    origin: str = ""  # the definition file or folder, as loaded: its git checkout gives the source annotations (never hashed)
    source: str = ""  # what kind of file it was read from, when not the mapping schema ("a requirements file") or a saved v1 file, for messages and rules
    notes: tuple[SpecWarning, ...] = ()  # warnings met while parsing (e.g. an ignored conda prefix)

    @property
    def requirements(self):
        return self.pip.requirements


def builder_of(spec: EnvironmentSpec) -> str:
    """The Docker builder for Dockerfiles, build contexts and Docker steps (or when asked for), else
    the daemonless one ("oci"). The hash names the builder's version, the pipeline runs it."""
    return "docker" if spec.builder == "docker" or spec.dockerfile or spec.build or spec.steps else "oci"
