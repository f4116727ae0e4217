"""What Pulumi programs import: `Environment`, an ML environment built into an immutable image, and
`get_environment`, a version or label of one read back from its repository."""

from .catalogue import EnvironmentVersion, get_environment, get_environment_output
from .environment import Environment
from .sections import DockerSection, PythonSection, RegistrySection, SparkSection

__all__ = ["Environment", "EnvironmentVersion", "get_environment", "get_environment_output", "DockerSection", "PythonSection", "RegistrySection", "SparkSection"]
