"""What Pulumi programs import: `Environment`, an ML environment built into an immutable image."""

from .environment import Environment
from .sections import DockerSection, PythonSection, RegistrySection, SparkSection

__all__ = ["Environment", "DockerSection", "PythonSection", "RegistrySection", "SparkSection"]
