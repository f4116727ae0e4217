"""What Pulumi programs import: `Environment`, an ML environment built into an immutable image."""

from .environment import Environment

__all__ = ["Environment"]
