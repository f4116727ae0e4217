"""The real provider with a bug injected where it builds (pickled by reference: keep it importable),
so a test can see what the engine gets when something unexpected escapes a provider call."""

from __future__ import annotations

from mlenv.provider import EnvironmentProvider

INJECTED = "injected bug (token=tok-0123456789 must not show)"


class FaultyProvider(EnvironmentProvider):
    def _build(self, props: dict) -> dict:
        raise RuntimeError(INJECTED)
