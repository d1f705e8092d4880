"""Helpers for the dbt project tests: copies of the test dbt projects with dbt-labs' seeds,
real dbt runs, and sqlfeast commands under a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = REPO / "tests" / "dbt_projects"
SEEDS = REPO.parent / "shared" / "fixtures" / "jaffle_shop_seeds"
BIN = Path(sys.executable).parent
DBT = BIN / "dbt"


def need_seeds() -> None:
    if not SEEDS.is_dir():
        pytest.skip(f"the jaffle_shop seeds are not at {SEEDS} (../shared is absent)")


def need_dbt() -> None:
    if not DBT.exists():
        pytest.skip("dbt is not installed in this environment (pip install -e '.[dev]' installs it)")


def copy_project(name: str, dest: Path, seed_folder: str = "seeds") -> Path:
    """A private copy of tests/dbt_projects/<name> with the seeds copied in at test time."""
    need_seeds()
    root = dest / name
    shutil.copytree(PROJECTS / name, root, ignore=shutil.ignore_patterns("target", "*.duckdb", "online.db"))
    (root / seed_folder).mkdir(parents=True, exist_ok=True)
    for csv in SEEDS.glob("*.csv"):
        shutil.copy(csv, root / seed_folder / csv.name)
    return root


def dbt(root: Path, *args: str) -> str:
    """Run real dbt in the project; fail the test with its output when it fails."""
    need_dbt()
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PROFILES_DIR": str(root)}
    proc = subprocess.run([str(DBT), *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def sqlfeast(root: Path, *args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `sqlfeast ARGS` in `root` under a pseudo-terminal, as a person would; (exit code, screen)."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(root)
        os.execv(str(BIN / "sqlfeast"), [str(BIN / "sqlfeast"), *args])
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            os.kill(pid, 9)
            raise AssertionError(f"sqlfeast {' '.join(args)} did not finish; output so far: {b''.join(chunks)!r}")
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def hide_dbt(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make dbt unimportable for the sqlfeast commands run next, as on a machine without it:
    an empty `dbt` package first on PYTHONPATH shadows the installed one."""
    (folder / "dbt").mkdir(parents=True, exist_ok=True)
    (folder / "dbt" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.delenv("SQLFEAST_RENDERER", raising=False)
    monkeypatch.delenv("SQLFEAST_DBT", raising=False)
