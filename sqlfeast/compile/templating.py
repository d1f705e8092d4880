"""Jinja rendering of models and macros, dbt style.

Built-in macros ship in ``sqlfeast/macros``; a project's own ``macros/`` override any built-in of the
same name. ``adapter.dispatch('name')`` resolves ``<warehouse>__name``, then ``default__name``.
Models see ``ref``, ``source``, ``var``, ``env_var``, ``config``, ``target`` and every macro.

>>> r = MacroLibrary.builtin().renderer(target_type="duckdb")
>>> r.call("create_view", '"v"', "select 1")
'create or replace view "v" as\\nselect 1'
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
import jinja2.nodes

from sqlfeast.compile.dbt_context import RAW_PREFIX, DbtBlocks, MacroReturn, dbt_globals, dbt_target, do_return
from sqlfeast.compile.failures import TemplateFailure
from sqlfeast.core.naming import quote as _quote
from sqlfeast.errors import Location, ValidationError, suggest
from sqlfeast.project.config import MissingEnvVar, env_var_value

BUILTIN_MACRO_DIR = Path(__file__).parent / "macros"
DBT_MACRO_DIR = Path(__file__).parent / "dbt_macros"  # dbt's cross-database macros, for dbt projects
_EXTENSIONS: list[Any] = ["jinja2.ext.do", DbtBlocks]
_MACRO_TAG = re.compile(r"({%-?\s*macro\s+)(\w+)")
_MISSING = object()
_MACRO_NAME = re.compile(r"{%-?\s*macro\s+(\w+)")


def _literal(value: Any) -> str:
    """A SQL literal for a Python value (used by macros for constants, never for user rows)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class MacroFile:
    path: str  # as shown in messages
    text: str
    names: list[str]
    package: str | None = None  # the macro namespace: "dbt", a package's or the project's name


@dataclass
class MacroLibrary:
    """All macro sources, built-ins first so that project macros override them by name."""

    files: list[MacroFile] = field(default_factory=list)

    @classmethod
    def builtin(cls) -> "MacroLibrary":
        lib = cls()
        for path in sorted(BUILTIN_MACRO_DIR.glob("*.sql")):
            text = path.read_text()
            # The built-ins are known to parse (tests check it and that this finds the same names);
            # a full Jinja parse only to list their names cost ~80 ms per process.
            lib.files.append(MacroFile(f"<sqlfeast>/macros/{path.name}", text, _MACRO_NAME.findall(text)))
        return lib

    def add_dbt_builtins(self) -> None:
        """dbt's cross-database macros (date_trunc, dateadd, datediff, safe_cast, type_*, ...)
        in the `dbt` namespace, for dbt projects rendered without dbt."""
        for path in sorted(DBT_MACRO_DIR.glob("*.sql")):
            text = path.read_text()
            self.files.append(MacroFile(f"<sqlfeast>/dbt_macros/{path.name}", text, _MACRO_NAME.findall(text), "dbt"))

    def add(self, path: str, text: str, package: str | None = None) -> None:
        """Add a macro file; `{% test %}`, `{% materialization %}`, `{% snapshot %}` and
        `{% docs %}` blocks load too (a test block is the macro test_<name>).

        >>> lib = MacroLibrary(); lib.add("m.sql", "{% test positive(model, column_name) %}x{% endtest %}")
        >>> lib.names
        {'test_positive'}
        """
        env = jinja2.Environment(extensions=_EXTENSIONS)
        try:
            tree = env.parse(text)
        except jinja2.TemplateSyntaxError as err:
            raise ValidationError(
                f"Jinja syntax error in macro file: {err.message}",
                Location(path, err.lineno),
                hint="fix the macro's syntax",
            ) from None
        names = [node.name.removeprefix(RAW_PREFIX) for node in tree.find_all(jinja2.nodes.Macro)]
        self.files.append(MacroFile(path, text, names, package))

    @property
    def names(self) -> set[str]:
        return {n for f in self.files for n in f.names}

    def namespaces(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for f in self.files:
            if f.package:
                out.setdefault(f.package, set()).update(f.names)
        return out

    def renderer(
        self,
        target_type: str,
        target_name: str = "dev",
        schema: str = "main",
        project: str = "",
        vars: dict[str, Any] | None = None,
        *,
        dbt: bool = False,
        target_settings: dict[str, Any] | None = None,
        database: str | None = None,
        sqlfeast_schema: str | None = None,
        profile: str | None = None,
    ) -> "Renderer":
        """A renderer for one target; `dbt=True` adds dbt's template context (dbt_context.py)."""
        renderer = Renderer(
            self,
            target_type,
            target_name,
            schema,
            project,
            vars or {},
            dbt=dbt,
            target_settings=target_settings or {},
            database=database,
            sqlfeast_schema=sqlfeast_schema or schema,
            profile=profile or project,
        )
        return renderer


_MACROS = "<sqlfeast macros>"


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return jinja2.FileSystemBytecodeCache()  # a private per-user folder under the temp dir
    except (OSError, RuntimeError):
        return None  # no writable temp dir: compile every time


class _Target(dict):
    """`target` in templates: target.name, target.type, target.schema (dbt's names)."""

    __getattr__ = dict.get


class _Adapter:
    def __init__(self, renderer: "Renderer"):
        self._renderer = renderer

    def dispatch(self, name: str, macro_namespace: str | None = None, packages: Any = None) -> Callable:
        return self._renderer.dispatch(name, macro_namespace)

    def quote(self, identifier: str) -> str:
        return _quote(identifier)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise TemplateFailure(
            f"adapter.{name} is not available while rendering", hint="install sqlfeast[dbt] to render with dbt"
        )

    @property
    def type(self) -> str:
        return self._renderer.target_type


class _MacroRef:
    """A macro as templates and Python call it: `return(value)` inside gives the value."""

    __slots__ = ("name", "macros")

    def __init__(self, name: str, macros: dict[str, Any]):
        self.name, self.macros = name, macros

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.macros[self.name](*args, **kwargs)
        except MacroReturn as ret:
            return ret.value

    def __repr__(self) -> str:
        return f"<macro {self.name}>"


class Renderer:
    """Renders model templates against one target with a shared macro namespace."""

    def __init__(
        self,
        library: MacroLibrary,
        target_type: str,
        target_name: str,
        schema: str,
        project: str,
        vars: dict[str, Any],
        *,
        dbt: bool = False,
        target_settings: dict[str, Any] | None = None,
        database: str | None = None,
        sqlfeast_schema: str | None = None,
        profile: str | None = None,
    ):
        self.library = library
        self.target_type = target_type
        self.project = project
        self.vars = vars
        self.dbt = dbt
        # Macros are compiled under a private name so that every call goes through a _MacroRef
        # (which turns dbt's `return(...)` into the call's value); line numbers are unchanged.
        source = "\n".join(
            _MACRO_TAG.sub(lambda m: m.group(1) + RAW_PREFIX + m.group(2), f.text) for f in library.files
        )
        # The macro library is the same text in every process: its compiled code is cached on
        # disk, which saves ~0.2 s at each start. The cache keeps one entry per template name, so
        # the name carries the text's digest: libraries with different project macros (or none)
        # each keep their own entry instead of evicting each other.
        name = f"{_MACROS[:-1]} {hashlib.sha1(source.encode()).hexdigest()[:16]}>"
        self.env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            extensions=_EXTENSIONS,
            bytecode_cache=_bytecode_cache(),
            loader=jinja2.FunctionLoader(lambda wanted: (source, None, lambda: True) if wanted == name else None),
        )
        self.env.filters["quote"] = _quote
        self.env.filters["literal"] = _literal
        self.target: Any = _Target(name=target_name, type=target_type, schema=schema, profile_name=project)
        self._compiled: dict[str, Any] = {}
        self.macros: dict[str, Any] = {n: _MacroRef(n, self._compiled) for n in library.names}
        self.base_globals: dict[str, Any] = {
            "target": self.target,
            "adapter": _Adapter(self),
            "var": self._var,
            "env_var": self._env_var,
            "project_name": project,
            "exceptions": _Exceptions(),
            "sqlfeast_quote": _quote,
            "sqlfeast_literal": _literal,
            "sqlfeast_schema": sqlfeast_schema or schema,
            "return": do_return,
        }
        if dbt:
            self.target = dbt_target(
                target_settings or {}, target_name, target_type, schema, database, profile or project
            )
            self.base_globals.update(dbt_globals(self.target, project, library.namespaces(), self.macros.__getitem__))
        self.base_globals.update(self.macros)  # macros call each other through their _MacroRef
        try:
            self.module = self.env.get_template(name, globals=self.base_globals).make_module()
        except TemplateFailure as err:
            raise ValidationError(f"cannot load macros: {err.message}", hint=err.hint) from None
        except jinja2.TemplateError as err:
            raise ValidationError(f"cannot load macros: {err}") from None
        self._compiled.update({n: getattr(self.module, RAW_PREFIX + n) for n in library.names})

    # -- functions visible to templates -----------------------------------------------------
    def _var(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.vars:
            return self.vars[name]
        if default is _MISSING:
            raise TemplateFailure(
                f"var('{name}') is not defined",
                hint="set it under 'vars:' in sqlfeast_project.yml, pass --vars, or give a default",
            )
        return default

    def _env_var(self, name: str, default: Any = _MISSING) -> Any:
        try:
            return env_var_value(name) if default is _MISSING else env_var_value(name, default)
        except MissingEnvVar:
            raise TemplateFailure(
                f"environment variable '{name}' is not set",
                hint=f"export {name}=... or give env_var('{name}', 'default')",
            ) from None

    def dispatch(self, name: str, macro_namespace: str | None = None) -> Callable:
        """`<warehouse>__name`, then `default__name` (the project's definitions win over a
        package's by name, as dbt's dispatch search order puts the root project first)."""
        candidates = [f"{self.target_type}__{name}", f"default__{name}"]
        if macro_namespace is None:
            candidates.append(name)
        for candidate in candidates:
            if candidate in self.macros:
                return self.macros[candidate]
        where = f" in namespace '{macro_namespace}'" if macro_namespace else ""
        raise TemplateFailure(
            f"no macro implements '{name}'{where} for {self.target_type}",
            hint=f"define '{self.target_type}__{name}' or 'default__{name}' in macros/"
            + (", or install sqlfeast[dbt] to render with dbt" if self.dbt else ""),
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> str:
        """Call a macro by name (with dispatch) from Python; returns its rendered text."""
        macro = self.macros.get(name) or self.dispatch(name)
        try:
            return str(macro(*args, **kwargs))
        except TemplateFailure as err:
            raise ValidationError(err.message, hint=err.hint) from None

    # -- rendering -----------------------------------------------------------------------------
    def render(self, text: str, path: str, context: dict[str, Any]) -> str:
        """Render one model. Errors carry the model's own line number."""
        globals_ = dict(self.base_globals)
        globals_.update(self.macros)
        globals_.update(context)
        fast = _render_simple_calls(text, path, globals_)
        if fast is not None:
            return fast
        try:
            # Compiled under the file's own name so stack frames tell the template line.
            code = self.env.compile(text, name=path, filename=path)
            template = self.env.template_class.from_code(self.env, code, self.env.make_globals(globals_), None)
        except jinja2.TemplateSyntaxError as err:
            raise ValidationError(
                f"Jinja syntax error: {err.message}", Location(path, err.lineno), hint="fix the template syntax"
            ) from None
        try:
            return template.render()
        except MacroReturn as ret:  # `return()` at the top of a model: its value is the model
            return str(ret.value)
        except TemplateFailure as err:
            raise ValidationError(err.message, Location(path, _template_line(path)), hint=err.hint) from None
        except jinja2.UndefinedError as err:
            name = str(err.message or "").split("'")[1] if "'" in str(err.message) else None
            known = list(self.macros) + list(context) + list(self.base_globals)
            hint = suggest(name, known) if name else None
            raise ValidationError(
                f"undefined name in template: {err.message}",
                Location(path, _template_line(path)),
                hint=hint
                or (
                    "define the macro in macros/, fix the name, or install sqlfeast[dbt] to render with dbt"
                    if self.dbt
                    else "define the macro in macros/ or fix the name"
                ),
            ) from None
        except jinja2.TemplateError as err:
            raise ValidationError(f"template error: {err}", Location(path, _template_line(path))) from None


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_fast_line: ContextVar[tuple[str, int] | None] = ContextVar("sqlfeast_fast_line", default=None)


def _render_simple_calls(text: str, path: str, globals_: dict[str, Any]) -> str | None:
    """Render a model whose only Jinja is ``{{ name(literal, ...) }}`` calls of known functions
    (the common case: ref, source, var, macros) without compiling a template, which costs
    about 2 ms a model. Returns None for anything else, which Jinja then renders; the output is
    what Jinja would give (``str`` of each call's value)."""
    if "{%" in text or "{#" in text or "\r" in text:
        return None
    parts: list[str] = []
    last = 0
    for match in _EXPRESSION.finditer(text):
        call = _literal_call(match.group(1))
        if call is None or call[0] not in globals_:
            return None
        name, args, kwargs = call
        line = text.count("\n", 0, match.start()) + 1
        token = _fast_line.set((path, line))
        try:
            value = globals_[name](*args, **kwargs)
        except TemplateFailure as err:
            raise ValidationError(err.message, Location(path, line), hint=err.hint) from None
        except Exception:
            return None  # let Jinja report it the usual way
        finally:
            _fast_line.reset(token)
        parts += [text[last : match.start()], str(value)]
        last = match.end()
    if "{{" in text[last:]:
        return None
    parts.append(text[last:])
    return "".join(parts)


def _literal_call(expression: str) -> tuple[str, list[Any], dict[str, Any]] | None:
    """`name('a', 1, k=True)` -> ("name", ["a", 1], {"k": True}); None if not exactly that."""
    expression = expression.strip()
    if not expression or expression[0] == "-" or expression[-1] == "-":
        return None  # whitespace control: leave to Jinja
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    args = [a.value for a in node.args if isinstance(a, ast.Constant)]
    kwargs = {k.arg: k.value.value for k in node.keywords if k.arg and isinstance(k.value, ast.Constant)}
    if len(args) != len(node.args) or len(kwargs) != len(node.keywords):
        return None
    return node.func.id, args, kwargs


def current_template_line(path: str) -> int | None:
    """The line of `path` being rendered now: from Jinja's python->template line map in the
    stack, or from the simple-call renderer."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == path:
            pairs = [p.split("=") for p in (frame.f_globals.get("debug_info") or "").split("&") if p]
            lines = [int(t) for t, py in pairs if int(py) <= frame.f_lineno]
            return lines[-1] if lines else None
        frame = frame.f_back
    fast = _fast_line.get()
    return fast[1] if fast and fast[0] == path else None


class _Exceptions:
    """dbt's exceptions.raise_compiler_error for macros."""

    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise TemplateFailure(str(message))


def _template_line(path: str) -> int | None:
    """The innermost line of the template `path` in the current exception's traceback."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def line_map(original: str, rendered: str) -> list[int]:
    """For each rendered line (0-based index), the 1-based line of the original it came from.

    Lines untouched by Jinja align exactly; lines produced by a Jinja block map to the first
    original line of that block, which is where a user would look.
    """
    a, b = original.splitlines(), rendered.splitlines()
    mapping = [0] * len(b)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(j2 - j1):
            if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
                mapping[j1 + k] = i1 + k + 1
            else:
                mapping[j1 + k] = min(i1 + 1, max(len(a), 1)) if i2 > i1 else max(i1, 1)
    return mapping
