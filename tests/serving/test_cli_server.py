"""`sqlfeast serve` refuses bad options and configurations with one message, before serving."""

from __future__ import annotations

from click.testing import CliRunner

from sqlfeast.cli import main


def test_bad_options(tmp_path):
    from tests.conftest import copy_example

    root = copy_example(tmp_path / "demo", with_data=False)
    runner = CliRunner()
    for args, message in (
        (["--workers", "0"], "Error: --workers must be at least 1"),
        (["--timeout", "0"], "Error: --timeout and --push-timeout must be positive"),
        (["--registry-refresh", "-1"], "Error: --registry-refresh must be 0 (never) or a number of seconds"),
    ):
        result = runner.invoke(main, ["--project-dir", str(root), "serve", *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines()[-1] == message


def test_no_project(tmp_path):
    result = CliRunner().invoke(main, ["--project-dir", str(tmp_path), "serve"])
    assert result.exit_code == 1
    assert f"no sqlfeast_project.yml or dbt_project.yml in {tmp_path.resolve()}" in result.output


def test_unknown_target(tmp_path):
    from tests.conftest import copy_example

    root = copy_example(tmp_path / "demo", with_data=False)
    result = CliRunner().invoke(main, ["--project-dir", str(root), "--target", "prod", "serve"])
    assert result.exit_code == 1
    assert "target 'prod' not found in profile 'demo'" in result.output
