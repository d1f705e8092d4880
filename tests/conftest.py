"""Shared fixtures: a fresh copy of the example project with its sample data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sqlfeast.project.sample_data import write_sample_data

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_FILES = ("sqlfeast_project.yml", "profiles.yml", "models", "macros")


def copy_example(dest: Path, with_data: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    if with_data:
        write_sample_data(dest)
    return dest


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of the repository's example project, with sample data."""
    return copy_example(tmp_path / "demo")
