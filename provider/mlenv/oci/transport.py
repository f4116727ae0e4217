"""The registry client's transport: a TLS context only for HTTPS requests.

httpx builds the default transport's TLS context (certifi's CA bundle, read and parsed: ~40 ms) when
the client is made, even for a loopback registry spoken to in plain HTTP, where a cache hit is one
GET. Here each scheme's transport is made at its first request: plain HTTP gets one without a CA
bundle (no TLS is ever spoken over it), HTTPS (a registry, its token service, a redirect to storage)
the default one, verified as before.
"""

from __future__ import annotations

import threading

import httpx


class PerSchemeTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._made: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()  # stores may be used from several threads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request.url.scheme).handle_request(request)

    def _for(self, scheme: str) -> httpx.HTTPTransport:
        with self._lock:
            if scheme not in self._made:
                self._made[scheme] = httpx.HTTPTransport(verify=False) if scheme == "http" else httpx.HTTPTransport()
            return self._made[scheme]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for transport in made:
            transport.close()
