"""`docs serve`: the catalog folder over HTTP on the loopback interface (standard library only).

>>> handler_for("/tmp").directory
'/tmp'
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # one short line a request on stderr
        import sys

        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def handler_for(directory: str | Path):
    """The request handler class serving `directory`."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    handler.directory = str(directory)  # type: ignore[attr-defined]
    return handler


def make_server(directory: str | Path, host: str = "127.0.0.1", port: int = 8080) -> http.server.ThreadingHTTPServer:
    """A server for `directory` bound to host:port (port 0: any free port)."""
    return http.server.ThreadingHTTPServer((host, port), handler_for(directory))
