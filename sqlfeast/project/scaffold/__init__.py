"""`sqlfeast init NAME`: a working project with sample data.

The template in ``scaffold/project`` is the same example project that sits at the repository
root (a test keeps the two equal).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlfeast.core.naming import NAME
from sqlfeast.errors import UsageError
from sqlfeast.project.sample_data import today_utc, write_sample_data

TEMPLATE = Path(__file__).parent / "project"


def create_project(directory: str, with_data: bool = True) -> Path:
    """Copy the template to `directory`, naming the project after the directory."""
    path = Path(directory).resolve()
    name = path.name
    if not NAME.match(name):
        raise UsageError(f"'{name}' is not a valid project name", hint="use letters, digits and underscores")
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{path} already exists and is not empty", hint="choose a new directory name")
    shutil.copytree(TEMPLATE, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "target", "data"))
    for file in ("sqlfeast_project.yml", "profiles.yml"):
        target = path / file
        text = target.read_text()
        text = re.sub(r"^name: demo$", f"name: {name}", text, flags=re.M)
        text = re.sub(r"^profile: demo$", f"profile: {name}", text, flags=re.M)
        text = re.sub(r"^demo:$", f"{name}:", text, flags=re.M)
        target.write_text(text)
    (path / ".gitignore").write_text("target/\ndata/\n")
    if with_data:
        write_sample_data(path, end=today_utc())  # fresh data: online reads within ttl
    return path
