"""Run the sqlfeast command line as a person would: a subprocess on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    output: str  # what the terminal showed (stdout and stderr together)


def run_pty(project: Path, *args: str, timeout: float = 300) -> Run:
    """`python -m sqlfeast --project-dir PROJECT ARGS...` on a pty; returns exit code and screen text."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlfeast", "--project-dir", str(project), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                proc.kill()
                raise TimeoutError(f"sqlfeast {' '.join(args)} printed nothing for {timeout}s")
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    code = proc.wait(timeout=timeout)
    return Run(code, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"))
