"""pypiserver as the test index, answering as a real index does: each wheel hashed once, not on every
page request, and requests served in parallel, not one at a time behind a queue of five.

pypiserver computes the `#sha256=` of every file a simple page lists each time the page is asked
for (its cached backend would not, but its file watcher drops a cached digest whenever the file is
merely opened): torch's 760 MB wheel costs 0.7 s a page, and each resolution of the bench-ml set
hashes its 3 GB again. Here a digest is kept per path, size, mtime and inode (a changed file is
hashed again). And pypiserver's wsgiref server handles one request at a time with a listen backlog
of 5: a resolver opening twenty connections at once has the rest dropped and retried a second later.
Here each request has a thread, and the backlog is 128. A real index (PyPI, a proxy) does both.

Run as `python testbed/pypi_index.py <pypiserver's arguments>` (services.start_pypiserver does).
"""

from __future__ import annotations

import functools
import os
import socketserver
import sys
import wsgiref.simple_server

import pypiserver.backend as backend
from pypiserver.__main__ import main

_hash = backend.digest_file


@functools.lru_cache(maxsize=4096)
def _digest_of(path: str, hash_algo: str, identity: tuple[int, int, int]) -> str:
    return _hash(path, hash_algo)


def _digest_once(path, hash_algo: str) -> str:
    found = os.stat(path)
    return _digest_of(os.fspath(path), hash_algo, (found.st_size, found.st_mtime_ns, found.st_ino))


class _ParallelServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    backend.digest_file = _digest_once  # the backends look the function up in their module at each call
    wsgiref.simple_server.WSGIServer = _ParallelServer  # what bottle's wsgiref adapter imports when it starts
    sys.exit(main(sys.argv[1:]))
