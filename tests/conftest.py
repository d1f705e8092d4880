"""Shared fixtures: a fresh copy of the example project with its sample data; tests marked
``run_first`` are collected first."""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``run_first`` (the full-size push race) go first, in their order: pytest-xdist
    hands the first tests out round-robin, so both workers start with them and the short tests
    fill in after, instead of one worker running them alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("run_first") is None)
