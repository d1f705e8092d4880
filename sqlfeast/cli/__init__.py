"""The ``sqlfeast`` command line (click), with dbt-like global options.

Exit codes: 0 ok, 1 validation or runtime error, 2 usage. User errors print one clear message,
never a traceback. Command groups live in their own modules (listed in ``_COMMAND_MODULES``) and
are added to the main group here.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import TYPE_CHECKING, Any

import click

from sqlfeast.errors import SqlfeastError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.feature_store import FeatureStore

_COMMAND_MODULES = (
    "sqlfeast.cli.project",
    "sqlfeast.cli.historical",
    "sqlfeast.cli.online",
    "sqlfeast.cli.server",
    "sqlfeast.cli.checks",
    "sqlfeast.cli.catalog",
    "sqlfeast.cli.debug",
    "sqlfeast.cli.feast",
)


class CliState:
    def __init__(self, project_dir: str, profiles_dir: str | None, target: str | None, vars_text: str | None):
        self.project_dir = project_dir
        self.profiles_dir = profiles_dir
        self.target = target
        self.vars = parse_vars(vars_text)
        self._store: FeatureStore | None = None

    def store(self) -> FeatureStore:
        """The FeatureStore for the global options (created once per command)."""
        if self._store is None:
            from sqlfeast.feature_store import FeatureStore

            self._store = FeatureStore(
                self.project_dir, target=self.target, profiles_dir=self.profiles_dir, vars=self.vars
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def parse_vars(text: str | None) -> dict[str, Any]:
    """--vars takes YAML or JSON, as in dbt: '{key: value}'."""
    if not text:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(f"--vars is not valid YAML: {err}", hint="pass e.g. --vars '{region: eu}'") from None
    if not isinstance(data, dict):
        raise UsageError("--vars must be a mapping", hint="pass e.g. --vars '{region: eu}'")
    return data


GLOBAL_OPTIONS = ("--project-dir", "--profiles-dir", "--target", "-t", "--vars")


def hoist_global_options(args: list[str]) -> list[str]:
    """Accept global options after the command too, as dbt does (`sqlfeast compile -t prod`):
    they are moved in front of the command name.

    >>> hoist_global_options(["compile", "--strict", "-t", "prod", "--vars={a: 1}"])
    ['-t', 'prod', '--vars={a: 1}', 'compile', '--strict']
    >>> hoist_global_options(["apply", "-t"])
    Traceback (most recent call last):
    click.exceptions.UsageError: Option '-t' requires an argument.
    """
    command_at = next(
        (i for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in GLOBAL_OPTIONS)), None
    )
    if command_at is None:
        return args
    head, tail, moved = args[: command_at + 1], [], []
    rest = iter(args[command_at + 1 :])
    for arg in rest:
        if arg == "--":
            tail.append(arg)
            tail.extend(rest)
            break
        if arg in GLOBAL_OPTIONS:
            value = next(rest, None)
            if value is None:
                raise click.UsageError(f"Option '{arg}' requires an argument.")
            moved += [arg, value]
        elif arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg:
            moved.append(arg)
        else:
            tail.append(arg)
    return head[:command_at] + moved + head[command_at:] + tail


# Hints written for the Python API, as the command line spells them.
_CLI_WORDING = (
    (re.compile(r"full_feature_names=True(?: \(--full-feature-names\))?"), "--full-feature-names"),
    (re.compile(r"timestamp_column=(?: \(--timestamp-column\))?"), "--timestamp-column"),
    (re.compile(r"filter_by_created_timestamp=True"), "--filter-by-created-timestamp"),
    (re.compile(r"strategy=(?: \(--strategy\))?"), "--strategy"),
    (re.compile(r"pass e\.g\. \{'(\w+)': \.\.\.\} in every entity row"), r"pass -e \1=... for every entity row"),
    (re.compile(r"convert it to a timestamp \(e\.g\. pandas\.to_datetime\)"), "store it as a timestamp in the file"),
)


def cli_wording(text: str) -> str:
    """A message as the command line should say it: options by their flags, not Python names.

    >>> cli_wording("output column 'x' collides (pass full_feature_names=True (--full-feature-names) to ...)")
    "output column 'x' collides (pass --full-feature-names to ...)"
    >>> cli_wording("entity row 0 lacks join key 'driver_id' (pass e.g. {'driver_id': ...} in every entity row)")
    "entity row 0 lacks join key 'driver_id' (pass -e driver_id=... for every entity row)"
    """
    for pattern, replacement in _CLI_WORDING:
        text = pattern.sub(replacement, text)
    return text


class SqlfeastCommand(click.Command):
    """A subcommand whose --help also lists the global options (accepted before or after it)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        root = ctx.find_root()
        records = [
            r for r in (p.get_help_record(root) for p in root.command.params if p.name != "version") if r is not None
        ]
        if records:
            with formatter.section("Global options (before or after the command)"):
                formatter.write_dl(records)


class SqlfeastGroup(click.Group):
    """Turns SqlfeastError into a message and an exit code, without a traceback."""

    command_class = SqlfeastCommand

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            hoisted = hoist_global_options(list(args))
        except click.UsageError as err:
            err.ctx = ctx
            raise
        return super().parse_args(ctx, hoisted)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SqlfeastError as err:
            text = cli_wording(err.render())
            click.echo(f"Error: {text}" if not err.location and "\n" not in text else text, err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=SqlfeastGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project-dir", default=".", show_default=True, help="Directory holding sqlfeast_project.yml or dbt_project.yml."
)
@click.option(
    "--profiles-dir",
    default=None,
    help="Directory holding profiles.yml (default: $SQLFEAST_PROFILES_DIR, $DBT_PROFILES_DIR, "
    "the project, ~/.sqlfeast, ~/.dbt).",
)
@click.option("--target", "-t", default=None, help="Target in profiles.yml (default: the profile's 'target').")
@click.option("--vars", "vars_text", default=None, help="Project variables as YAML, e.g. '{region: eu}'.")
@click.version_option(package_name="sqlfeast")
@click.pass_context
def main(ctx: click.Context, project_dir: str, profiles_dir: str | None, target: str | None, vars_text: str | None):
    """sqlfeast: a SQL-first feature store."""
    _print_warnings()
    try:
        ctx.obj = CliState(project_dir, profiles_dir, target, vars_text)
        ctx.call_on_close(ctx.obj.close)
    except SqlfeastError as err:
        click.echo(err.render(), err=True)
        ctx.exit(err.exit_code)


def _print_warnings() -> None:
    """sqlfeast's own warnings (RegistryWarning) print as one ``warning: ...`` line on stderr."""
    import warnings

    from sqlfeast.errors import RegistryWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RegistryWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", RegistryWarning)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


for _module in _COMMAND_MODULES:
    for _command in importlib.import_module(_module).COMMANDS:
        main.add_command(_command)
