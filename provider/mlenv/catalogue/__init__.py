"""Environments as versioned assets in their repository (docs/VERSIONS.md)."""
