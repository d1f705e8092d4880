"""The app `sqlfeast serve` runs: the feature server plus the project's materialization jobs.

The server (sqlfeast/serving/app.py) reads only the online store; /materialize and
/materialize-incremental need the warehouse and the registry state, which the project's
FeatureStore holds. This module, above both, joins them for uvicorn's worker processes.

>>> app = app_from_env()   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os


class ProjectJobs:
    """Runs the server's /materialize and /materialize-incremental on the project's FeatureStore.

    >>> ProjectJobs(".").materialize("2026-01-01", "2026-01-15", None)   # doctest: +SKIP
    [ViewResult(view='driver_hourly_stats', ...), ...]
    """

    def __init__(self, project_dir: str, target: str | None = None, profiles_dir: str | None = None):
        self.project_dir, self.target, self.profiles_dir = project_dir, target, profiles_dir

    def _store(self):
        from sqlfeast.feature_store import FeatureStore

        return FeatureStore(self.project_dir, self.target, self.profiles_dir)

    def materialize(self, start: str, end: str, views: list[str] | None) -> list:
        with self._store() as fs:
            return fs.materialize(start, end, views, quiet=True)

    def materialize_incremental(self, end: str, views: list[str] | None) -> list:
        with self._store() as fs:
            return fs.materialize_incremental(end, views, quiet=True)


def app_from_env():
    """uvicorn factory for `sqlfeast serve`: the server app with the project's materialization jobs."""
    from sqlfeast.serving.app import CONFIG_ENV, create_app

    config = json.loads(os.environ.get(CONFIG_ENV) or "{}")
    project_dir = config.get("project_dir", ".")
    jobs = ProjectJobs(project_dir, config.get("target"), config.get("profiles_dir"))
    return create_app(
        project_dir, config.get("target"), config.get("profiles_dir"), jobs=jobs, **config.get("options", {})
    )
