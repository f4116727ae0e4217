"""A fault-injecting HTTP proxy on 127.0.0.1, in front of a real registry on 127.0.0.1.

Rules pick requests by method and a regular expression on the path (query included) and do one of:
answer a status (optionally with Retry-After), reset the connection while the request body arrives,
forward the request and then drop the connection without an answer (a lost response), forward and
reset halfway through the answer's body, wait before forwarding, or answer 401 with a Bearer
challenge (whose token endpoint the proxy serves itself; a request holding its token passes). A body cap answers 413 like a front end
with a request-size limit. Every rule applies a bounded number of times (`times`), after letting
`after` matching requests through (the third chunk, not the first); every request is recorded, so
tests can count retries.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_PATH = "/token"
TOKEN = "fault-proxy-token"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}
ACTIONS = ("status", "reset-request", "lose-response", "reset-response", "delay", "challenge")


@dataclass
class Rule:
    action: str                      # one of ACTIONS
    method: str = "*"
    path: str = ""                   # regex searched in the path and query
    times: int = 1                   # how many matching requests it applies to (bounded: no "forever")
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    after: int = 0                   # matching requests let through untouched before it applies
    hits: int = 0
    passed: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; known: {', '.join(ACTIONS)}")
        if not 0 < self.times <= 10_000:
            raise ValueError("times must be between 1 and 10000")

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and self.method in ("*", method) and re.search(self.path, path) is not None


@dataclass
class Seen:
    method: str
    path: str            # without the query
    outcome: str         # "forwarded 201", or the rule's action


class _Stop(Exception):
    """The connection was cut on purpose: end this handler without writing anything more."""


class FaultProxy:
    def __init__(self, upstream: str, body_limit: int | None = None, port: int = 0):
        if not upstream.startswith(("127.0.0.1:", "localhost:")):
            raise ValueError("the fault proxy only fronts servers on 127.0.0.1")
        self.upstream, self.body_limit = upstream, body_limit
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set_rules(self, *rules: Rule, body_limit: int | None = None) -> None:
        with self._lock:
            self.rules, self.seen, self.body_limit = list(rules), [], body_limit

    def count(self, method: str, path_pattern: str = "", outcome: str = "") -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.method == method and re.search(path_pattern, s.path) and s.outcome.startswith(outcome))

    def _pick(self, method: str, path: str, authorized: bool) -> Rule | None:
        """The first rule with uses left that matches; a challenge spares a request holding the token."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path) and not (authorized and rule.action == "challenge"):
                    if rule.passed < rule.after:
                        rule.passed += 1
                        continue
                    rule.hits += 1
                    return rule
        return None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.seen.append(Seen(method, path.split("?", 1)[0], outcome))


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        pass

    Handler.proxy = proxy
    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, *_args) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (_Stop, ConnectionError, socket.timeout):
            self.close_connection = True

    def _any(self) -> None:
        method, path = self.command, self.path
        rule = self.proxy._pick(method, path, authorized=self.headers.get("Authorization") == f"Bearer {TOKEN}")
        if rule and rule.action == "reset-request":
            self._read_body(half=True)
            self._record(rule.action)
            self._cut()
        body = self._read_body()
        if self.proxy.body_limit is not None and len(body) > self.proxy.body_limit:
            self._record("413")
            return self._answer(413, b"<html><body><h1>413 Request Entity Too Large</h1></body></html>", {"Connection": "close"})
        if path.startswith(TOKEN_PATH) and not (rule and rule.action == "status"):
            self._record("token")
            return self._answer(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode())
        if rule:
            self._record(rule.action)
            if rule.action == "status":
                headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
                return self._answer(rule.status, json.dumps({"errors": [{"code": "INJECTED", "message": "fault proxy"}]}).encode(), headers)
            if rule.action == "challenge":
                challenge = f'Bearer realm="http://{self.proxy.host}{TOKEN_PATH}",service="fault-proxy",scope="repository:x:pull,push"'
                return self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
            if rule.action == "delay":
                time.sleep(min(rule.delay, 30.0))
        status, headers, answer = self._forward(body)
        if rule is None:
            self._record(f"forwarded {status}")
        elif rule.action == "lose-response":
            self._cut()
        elif rule.action == "reset-response":
            self._answer_partially(status, headers, answer)
        self._relay(status, headers, answer)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    # -- pieces --------------------------------------------------------------------------------
    def _record(self, outcome: str) -> None:
        self.proxy._record(self.command, self.path, outcome)

    def _read_body(self, half: bool = False) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length // 2 if half else length)

    def _read_chunked(self) -> bytes:
        parts = []
        for _ in range(1_000_000):  # bounded: a chunked body ends with a zero-size chunk
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                break
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        return b"".join(parts)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host, port = self.proxy.upstream.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"}
            connection.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST", "PATCH") else None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP], answer
        finally:
            connection.close()

    def _relay(self, status: int, headers: list[tuple[str, str]], answer: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if self.command == "HEAD" or key.lower() != "content-length":
                self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if (headers or {}).get("Connection") == "close":
            self.close_connection = True

    def _answer_partially(self, status: int, headers: list[tuple[str, str]], answer: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer[: len(answer) // 2])
        self.wfile.flush()
        self._cut()

    def _cut(self) -> None:
        """Reset the connection (RST, not FIN): what a crashed front end or a dropped link looks like."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        raise _Stop()

