"""Run the ``sqlfeast`` command the way a person does: as a subprocess on a pseudo-terminal.

stdin, stdout and stderr of the child are the slave side of a pty (so ``isatty()`` is true and
progress bars draw), the window is 100x30, and everything the child writes is read from the
master side. ``screen()`` turns that into what a person sees: carriage returns overwrite the line,
ANSI escape sequences are dropped.

>>> screen("a\\r\\nprogress 1\\rprogress 2\\r\\n\\x1b[Adone\\r\\n")
'a\\nprogress 2\\ndone'
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

COLUMNS, ROWS = 100, 30
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def sqlfeast_command() -> list[str]:
    """The installed ``sqlfeast`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "sqlfeast"
    if script.exists():
        return [str(script)]
    found = shutil.which("sqlfeast")
    return [found] if found else [sys.executable, "-m", "sqlfeast"]


def screen(raw: str) -> str:
    """What a terminal shows for `raw`: each \\r returns to the start of the line (later text
    overwrites earlier), escape sequences are dropped, trailing blank lines removed."""
    lines = []
    for line in _ANSI.sub("", raw).replace("\r\n", "\n").split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part) :]
        lines.append(shown.rstrip())
    return "\n".join(lines).strip("\n")


@dataclass
class PtyResult:
    args: list[str]
    exit_code: int
    raw: str  # bytes as the terminal received them, decoded

    @property
    def screen(self) -> str:
        return screen(self.raw)

    def __str__(self) -> str:  # for assertion messages
        return f"$ {' '.join(self.args)}\n[exit {self.exit_code}]\n{self.screen}"


def _open_pty() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    return master, slave


def _environment(env: dict[str, str | None] | None) -> dict[str, str]:
    """This process's environment with `env` applied (a None value removes the variable)."""
    out = dict(os.environ)
    for name in ("COLUMNS", "LINES", "PYTEST_CURRENT_TEST"):
        out.pop(name, None)
    out.update({"TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"})
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


class PtyProcess:
    """A command running on its own pseudo-terminal; read its output as it comes."""

    def __init__(self, args: list[str], cwd: str | os.PathLike, env: dict[str, str | None] | None = None):
        self.args = list(args)
        self.master, slave = _open_pty()
        self.proc = subprocess.Popen(
            self.args,
            cwd=str(cwd),
            env=_environment(env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self._buffer = b""
        self._eof = False

    def _read(self, wait: float) -> bool:
        """Read what is available within `wait` seconds; False at end of output."""
        if self._eof:
            return False
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError as err:  # Linux reports EIO once the child side is closed
            if err.errno != errno.EIO:
                raise
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    @property
    def raw(self) -> str:
        return self._buffer.decode("utf-8", errors="replace")

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        """Wait until the output so far matches `pattern` (a regex); raises with the output if the
        process ends or `timeout` passes first (a guard against hangs, not a timing check)."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, screen(self.raw))
            if match:
                return match
            if not self._read(max(0.0, min(0.2, deadline - time.monotonic()))) or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not seen; output of {' '.join(self.args)}:\n{screen(self.raw)}")

    def send(self, text: str) -> None:
        """Type `text` on the terminal (use "\\r" for Enter)."""
        os.write(self.master, text.encode())

    def pump(self, wait: float = 0.1) -> None:
        """Take in what the process wrote meanwhile (keeps its terminal from filling up)."""
        self._read(wait)

    def interrupt(self) -> None:
        """Ctrl-C, as a person stops a server."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = 120) -> PtyResult:
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{' '.join(self.args)} did not finish:\n{screen(self.raw)}")
        try:
            code = self.proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{' '.join(self.args)} did not exit:\n{screen(self.raw)}") from None
        os.close(self.master)
        return PtyResult(self.args, code, self.raw)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> "PtyProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        try:
            os.close(self.master)
        except OSError:
            pass


def run_pty(
    args: list[str], cwd: str | os.PathLike, env: dict[str, str | None] | None = None, timeout: float = 180
) -> PtyResult:
    """Run `args` to completion on a pseudo-terminal; returns the exit code and the output."""
    with PtyProcess(args, cwd, env) as proc:
        return proc.wait(timeout)


def sqlfeast(
    *args: str, cwd: str | os.PathLike, env: dict[str, str | None] | None = None, timeout: float = 180
) -> PtyResult:
    """`sqlfeast ARGS...` in `cwd` on a pseudo-terminal."""
    return run_pty([*sqlfeast_command(), *args], cwd, env, timeout)


def run_piped(
    args: list[str], cwd: str | os.PathLike, env: dict[str, str | None] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """The same command with stdout and stderr captured through pipes (not a terminal)."""
    return subprocess.run(
        args,
        cwd=str(cwd),
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
