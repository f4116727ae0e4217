"""A static HTTP server for a conda channel folder on 127.0.0.1 (run as a script by conda_channel.py).

With a token (from the MLENV_TEST_CHANNEL_TOKEN environment variable, so it is not in `ps`), only URLs
under /t/<token>/ are served, as anaconda.org's private channels do: no token answers 401, a wrong
one 403. With a login (MLENV_TEST_CHANNEL_BASIC=user:password) every request needs HTTP basic auth.
Neither the token nor the password reaches the log.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import os

TOKEN_ENV = "MLENV_TEST_CHANNEL_TOKEN"
BASIC_ENV = "MLENV_TEST_CHANNEL_BASIC"


class ChannelHandler(http.server.SimpleHTTPRequestHandler):
    token = ""
    basic = ""  # "user:password", or "" for no login

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()

    def _authorized(self) -> bool:
        """Strip /t/<token> from the path when the token is right; answer 401/403 when it is not."""
        if self.basic and self.headers.get("Authorization", "") != "Basic " + base64.b64encode(self.basic.encode()).decode():
            self.send_error(401, "this channel needs a login")
            return False
        if not self.token:
            return True
        prefix = f"/t/{self.token}/"
        if self.path.startswith(prefix):
            self.path = self.path[len(prefix) - 1:]
            return True
        self.send_error(403 if self.path.startswith("/t/") else 401, "this channel needs a token: /t/<token>/...")
        return False

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        message = format % args
        super().log_message("%s", message.replace(self.token, "***") if self.token else message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    handler = type("Handler", (ChannelHandler,), {"token": os.environ.get(TOKEN_ENV, ""), "basic": os.environ.get(BASIC_ENV, "")})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", arguments.port),
                                             functools.partial(handler, directory=arguments.directory))
    server.serve_forever()


if __name__ == "__main__":
    main()
