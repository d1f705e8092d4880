"""A small HTTP/1.1 load generator: N keep-alive connections on asyncio, pre-encoded requests.

Light on purpose (no HTTP client library in the loop) so that on a small machine most CPU goes to
the server under test. Used by the load test and by benchmarks/server_bench.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
        }


def encode_post(url: str, path: str, body: dict) -> bytes:
    host = urlsplit(url).netloc
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    return head + data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, body
            body += await reader.readexactly(size + 2)
            body = body[:-2]
    return status, await reader.readexactly(length or 0)


async def _worker(url: str, requests: list[bytes], deadline: float, result: LoadResult, check) -> None:
    parts = urlsplit(url)
    reader = writer = None
    i = 0
    while time.perf_counter() < deadline:
        payload = requests[i % len(requests)]
        i += 1
        start = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(payload)
            status, body = await _read_response(reader)
            problem = None if status == 200 else f"HTTP {status}: {body[:200]!r}"
            if problem is None and check is not None:
                problem = check(body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            problem = f"{type(err).__name__}: {err}"
            if writer is not None:
                writer.close()
            reader = writer = None
        result.latencies_ms.append((time.perf_counter() - start) * 1000)
        result.requests += 1
        if problem is not None:
            result.errors += 1
            if len(result.first_errors) < 5:
                result.first_errors.append(problem)
    if writer is not None:
        writer.close()


async def run_load(url: str, requests: list[bytes], seconds: float, connections: int, check=None) -> LoadResult:
    """Send `requests` round-robin on `connections` connections for `seconds` (closed loop)."""
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_worker(url, requests, deadline, result, check) for _ in range(connections)))
    result.seconds = time.perf_counter() - start
    return result


def load(url: str, requests: list[bytes], seconds: float, connections: int = 16, check=None) -> LoadResult:
    return asyncio.run(run_load(url, requests, seconds, connections, check))
