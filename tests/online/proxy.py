"""A fault-injecting HTTP proxy in front of a real DynamoDB-compatible server.

It forwards every request to the server and, on demand, delays requests, answers some with a
throttling error, or forwards only part of a BatchWriteItem / BatchGetItem and returns the rest
as UnprocessedItems / UnprocessedKeys, the way a throttled DynamoDB table does. `stop()` makes
the server "go away" (connections refused); `start()` brings it back on the same port.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class FaultProxy:
    def __init__(self, upstream: str, port: int = 0):
        self.upstream = urlparse(upstream)
        self.port = port
        self.delay = 0.0
        self.throttle_every = 0  # answer every Nth request with ProvisionedThroughputExceeded
        self.unprocessed_every = 0  # every Nth batch request: forward half, return half unprocessed
        self.counts = {"requests": 0, "throttled": 0, "unprocessed": 0}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: stop() really cuts clients off

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = proxy.handle(self.headers, body)
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in (
                        "content-length",
                        "connection",
                        "transfer-encoding",
                        "server",
                        "date",
                        "x-amz-crc32",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # a client that went away (killed) is part of the tests

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, headers, body: bytes):
        if self.delay:
            time.sleep(self.delay)
        target = headers.get("X-Amz-Target", "")
        with self._lock:
            self.counts["requests"] += 1
            n = self.counts["requests"]
            throttle = bool(self.throttle_every) and n % self.throttle_every == 0
            split = (
                bool(self.unprocessed_every)
                and n % self.unprocessed_every == 1
                and target.endswith(("BatchWriteItem", "BatchGetItem"))
            )
            if throttle:
                self.counts["throttled"] += 1
        if throttle:
            err = {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "injected throttling",
            }
            return 400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(err).encode()
        held_back = None
        if split:
            held_back, request = self._split(target, json.loads(body))
            body = json.dumps(request).encode()
        status, out_headers, payload = self._forward(headers, body)
        if held_back and status == 200:
            with self._lock:
                self.counts["unprocessed"] += 1
            response = json.loads(payload)
            field = "UnprocessedItems" if target.endswith("BatchWriteItem") else "UnprocessedKeys"
            response[field] = held_back
            payload = json.dumps(response).encode()
        return status, out_headers, payload

    @staticmethod
    def _split(target: str, request: dict):
        held, kept = {}, {}
        for table, spec in request["RequestItems"].items():
            if target.endswith("BatchWriteItem"):
                half = len(spec) // 2
                kept[table], rest = spec[: max(half, 1)], spec[max(half, 1) :]
                if rest:
                    held[table] = rest
            else:
                keys = spec["Keys"]
                half = max(len(keys) // 2, 1)
                kept[table] = {**spec, "Keys": keys[:half]}
                if keys[half:]:
                    held[table] = {**spec, "Keys": keys[half:]}
        return held, {**request, "RequestItems": kept}

    def _forward(self, headers, body: bytes):
        con = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host", "connection")}
            fwd["Content-Length"] = str(len(body))
            con.request("POST", "/", body=body, headers=fwd)
            resp = con.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            con.close()
