"""Compile a project: render every model, validate it with sqlglot, build the registry.

The steps, each reporting every problem it finds:
  1. load files (project.py)          4. order models by ref() and find cycles (graph.py)
  2. render with Jinja (templating)   5. check projections and types (analysis.py)
  3. parse with sqlglot               6. assemble self-contained SQL per dialect + registry

Rendered models refer to sources and refs through placeholder table names, so one parse serves
both the checks (with known schemas) and the SQL of every dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import sqlglot
from sqlglot import exp

from sqlfeast.compile.dbt_context import ModelConfig, Relation
from sqlfeast.compile.dbt_render import (
    DBT_FOLDER,
    DbtRendering,
    cli_vars,
    find_dbt,
    line_of_call,
    render_with_dbt,
    swap_relations,
)
from sqlfeast.compile.templating import MacroLibrary, TemplateFailure, current_template_line, line_map
from sqlfeast.core.dialects import DIALECTS, dialect
from sqlfeast.core.files import write_atomic
from sqlfeast.core.naming import SOURCE_PREFIX, push_table_name, ref_relation, source_placeholder
from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Feature, FeatureView, Model, SourceTable
from sqlfeast.core.types import FeatureType, parse_type
from sqlfeast.errors import Location, SqlfeastError, ValidationError, ValidationErrors, suggest
from sqlfeast.project.config import ProjectConfig, Target
from sqlfeast.project.data_tests import attach_tests
from sqlfeast.project.dbt_project import DbtNode, node_relation, packages, read_manifest
from sqlfeast.project.header import HEADER_KEYS, parse_ttl
from sqlfeast.project.loader import LoadedProject, ModelFile, load
from sqlfeast.project.yamlfile import LineDict

from . import aggregations, analysis, graph

DBT_PREFIX = "__sqlfeast_dbt__"


def load_macros(config: ProjectConfig, loaded: LoadedProject | None = None) -> MacroLibrary:
    """Built-in macros first, then the project's, so the project's win by name. A dbt project
    also gets dbt's cross-database macros and its installed packages' macros (before its own)."""
    library = MacroLibrary.builtin()
    if config.is_dbt:
        library.add_dbt_builtins()
        if loaded is not None:
            package_files = loaded.package_macro_files
        else:
            package_files = [
                (pkg.name, path.relative_to(config.root).as_posix(), path.read_text())
                for pkg in packages(config)
                for d in pkg.macro_paths
                for path in sorted((pkg.root / d).rglob("*.sql"))
            ]
        for package, path, text in package_files:
            library.add(path, text, package)
    files = loaded.macro_files if loaded else _macro_files(config)
    for path, text in files:
        library.add(path, text, config.name if config.is_dbt else None)
    return library


def make_renderer(config: ProjectConfig, target: Target, vars: dict[str, Any], library: MacroLibrary | None = None):
    """The renderer for `target`; a dbt project's templates see dbt's context and dbt's schema
    as target.schema, while sqlfeast's own objects go to target.schema of sqlfeast."""
    library = library or load_macros(config)
    if config.is_dbt:
        return library.renderer(
            target.type,
            target.name,
            target.dbt_schema or target.schema,
            config.name,
            vars,
            dbt=True,
            target_settings=target.settings,
            database=target.database,
            sqlfeast_schema=target.schema,
            profile=target.profile,
        )
    return library.renderer(target.type, target.name, target.schema, config.name, vars)


def _macro_files(config: ProjectConfig) -> list[tuple[str, str]]:
    out = []
    for d in config.macro_paths:
        for path in sorted((config.root / d).rglob("*.sql")):
            out.append((path.relative_to(config.root).as_posix(), path.read_text()))
    return out


@dataclass
class RenderedModel:
    file: ModelFile
    sql: str
    refs: dict[str, int | None] = field(default_factory=dict)  # model -> line of the ref()
    dbt_refs: dict[str, str] = field(default_factory=dict)  # placeholder -> relation dbt builds
    sources: dict[str, int | None] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)  # rendered line -> original line
    dbt_sql: str | None = None  # the SQL as dbt rendered it (relation names as dbt wrote them)
    dbt_sources: dict[str, str] = field(default_factory=dict)  # placeholder -> `source.table` it stands for
    ast: exp.Query | None = None
    columns: list[analysis.OutputColumn] | None = None  # None when not analysable


class _ModelContext:
    """ref()/source()/config() for one model; records what the model depends on."""

    def __init__(self, loaded: LoadedProject, model: RenderedModel, relations: "DbtRelations | None" = None):
        self.loaded = loaded
        self.model = model
        self.relations = relations

    def ref(self, *args: str, **kwargs: Any) -> str:
        name = args[-1] if args else kwargs.get("name", "")
        package = args[0] if len(args) == 2 else kwargs.get("package")
        version = kwargs.get("v", kwargs.get("version"))
        if self.relations is not None and (package or name not in self.loaded.models):
            return self.relations.ref(self.model, name, package, version)
        if version is not None:
            raise TemplateFailure(
                f"ref('{name}', v={version}): model versions exist only for dbt models",
                hint="remove the version, or ref a versioned model of a dbt project",
            )
        if name not in self.loaded.models:
            raise TemplateFailure(
                f"ref('{name}') names no model", hint=suggest(name, self.loaded.models) or "check the model's file name"
            )
        if name == self.model.file.name:
            raise TemplateFailure(f"model '{name}' refs itself")
        self.model.refs.setdefault(name, current_template_line(self.model.file.path))
        return '"' + ref_relation(self.loaded.config.name, name) + '"'

    def source(self, source: str, table: str) -> str:
        key = f"{source}.{table}"
        if key not in self.loaded.sources:
            raise TemplateFailure(
                f"source('{source}', '{table}') is not declared",
                hint=suggest(key, self.loaded.sources) or "declare it under 'sources:' in a models/ YAML file",
            )
        self.model.sources.setdefault(key, current_template_line(self.model.file.path))
        return '"' + source_placeholder(source, table) + '"'

    def config(self, **kwargs: Any) -> str:
        self.model.config.update(kwargs)
        return ""

    def as_globals(self) -> dict[str, Any]:
        this = '"' + ref_relation(self.loaded.config.name, self.model.file.name) + '"'
        if self.relations is None:
            return {"ref": self.ref, "source": self.source, "config": self.config, "this": this}
        return {
            "ref": self.ref,
            "source": self.source,
            "config": ModelConfig(self.config, self.model.config),
            "this": Relation(
                self.relations.database,
                self.relations.schema,
                ref_relation(self.loaded.config.name, self.model.file.name),
                this,
            ),
            "model": {
                "name": self.model.file.name,
                "resource_type": "model",
                "original_file_path": self.model.file.path,
                "config": self.model.config,
            },
        }


class DbtRelations:
    """ref() to what dbt builds in a dbt project: models, seeds, package models, versions."""

    def __init__(
        self,
        loaded: LoadedProject,
        renderer: Any,
        target: Target,
        warehouse: Any = None,
        manifest: dict[str, str] | None = None,
    ):
        self.loaded = loaded
        self.renderer = renderer
        self.manifest = read_manifest(loaded.config) if manifest is None else manifest
        self.database = target.database
        self.schema = target.schema  # sqlfeast's own objects (`this`)
        self.target_type = target.type
        self.warehouse = warehouse  # to learn the columns of what dbt built (None: unknown)
        self.cache: dict[tuple[str, str | None], str] = {}
        self.column_cache: dict[str, dict[str, Any] | None] = {}

    def columns(self, relation: str) -> dict[str, Any] | None:
        """Column types of a relation dbt built, asked of the warehouse; None when unknown."""
        if self.warehouse is None:
            return None
        if relation not in self.column_cache:
            from sqlfeast.core.types import from_warehouse

            sql = f"select * from {_relation_sql(relation, self.target_type)}"
            try:
                described = self.warehouse.describe(self.warehouse.localize(sql))
                self.column_cache[relation] = {name: from_warehouse(t) for name, t in described}
            except SqlfeastError:
                self.column_cache[relation] = None
        return self.column_cache[relation]

    def _seed_from_csv(self, node: DbtNode, relation: str) -> str:
        """On DuckDB a seed dbt has not loaded yet is read straight from its CSV file."""
        if node.kind != "seed" or not dialect(self.target_type).database_is_file or self.warehouse is None:
            return relation
        if self.columns(relation) is not None:
            return relation
        return CSV_PREFIX + node.path

    def ref(self, model: RenderedModel, name: str, package: str | None, version: Any) -> str:
        key = f"{package}.{name}" if package else name
        node: DbtNode | None = self.loaded.dbt_nodes.get(key)
        if node is None:
            known = list(self.loaded.models) + list(self.loaded.dbt_nodes)
            raise TemplateFailure(
                f"ref({', '.join(repr(a) for a in ([package] if package else []) + [name])}) "
                f"names no model or seed of this dbt project",
                hint=suggest(key, known) or "check the model's file name, or run 'dbt deps' for packages",
            )
        version = None if version is None else str(version)
        if version is not None and version not in node.versions:
            raise TemplateFailure(
                f"ref('{name}', v={version}): model '{name}' has no version {version}",
                hint=f"its versions: {', '.join(node.versions)}"
                if node.versions
                else f"declare versions of '{name}' under models: in YAML",
            )
        if version is None and node.versions:
            version = node.latest_version
        if (key, version) not in self.cache:
            self.cache[(key, version)] = node_relation(
                self.loaded.config, node, version, self.renderer.call, self.manifest
            )
        relation = self._seed_from_csv(node, self.cache[(key, version)])
        placeholder = DBT_PREFIX + key + (f"__v{version}" if version else "")
        model.dbt_refs[placeholder] = relation
        if relation.startswith(CSV_PREFIX):
            return Relation(None, None, node.name, '"' + placeholder + '"')
        table = sqlglot.parse_one(relation, into=exp.Table, dialect="duckdb")
        return Relation(table.catalog or None, table.db or None, table.name, '"' + placeholder + '"')

    def adopt(self, model: RenderedModel, by_dbt: DbtRendering) -> None:
        """Take a view dbt rendered: its relation names become placeholders, as ref() and
        source() give them when sqlfeast renders, so the same checks and SQL follow."""
        view = by_dbt.views[model.file.name]
        text = model.file.header.body
        model.dbt_sql = view.sql
        swaps: dict[str, str] = {}
        for ref in view.refs:
            relation = str(ref["relation"])
            if not _is_table(relation):
                continue
            key = ref["name"] if ref["package"] == self.loaded.config.name else f"{ref['package']}.{ref['name']}"
            node = self.loaded.dbt_nodes.get(key)
            placeholder = DBT_PREFIX + key + (f"__v{ref['version']}" if ref.get("version") else "")
            model.dbt_refs[placeholder] = self._seed_from_csv(node, relation) if node is not None else relation
            swaps[relation] = '"' + placeholder + '"'
        for key in view.sources:
            named = by_dbt.sources.get(key)
            model.sources.setdefault(key, line_of_call(text, "source", *key.split(".", 1)))
            if named is None or not _is_table(named):
                continue
            placeholder = DBT_PREFIX + "source:" + key
            model.dbt_refs[placeholder] = named
            model.dbt_sources[placeholder] = key
            swaps[named] = '"' + placeholder + '"'
        for name in view.local_refs:
            model.refs.setdefault(name, line_of_call(text, "ref", name))
        model.sql = swap_relations(view.sql, swaps)


def _is_table(relation: str) -> bool:
    """Whether dbt's relation name is a table name (not, say, an external file expression)."""
    try:
        sqlglot.parse_one(relation, into=exp.Table, dialect="duckdb")
    except sqlglot.errors.SqlglotError:
        return False
    return True


def _render_with_dbt(
    loaded: LoadedProject, target: Target, vars: dict[str, Any] | None, warehouse: Any = None
) -> DbtRendering | None:
    """Every feature view of a dbt project rendered by dbt, when dbt renders them (dbt_render.py)."""
    config = loaded.config
    install = find_dbt(config, target)
    if install is None:
        return None
    if warehouse is not None and dialect(target.type).database_is_file:
        warehouse.close()  # dbt's run_query() and introspection open the file; ours reopens on next use
    local = {name: '"' + ref_relation(config.name, name) + '"' for name in loaded.models}
    this = {
        name: {"database": target.database, "schema": target.schema, "identifier": ref_relation(config.name, name)}
        for name in loaded.models
    }
    views = {name: (file.path, file.header.body) for name, file in loaded.models.items()}
    return render_with_dbt(install, config, target, views, local, this, cli_vars(config, vars))


CSV_PREFIX = "csv:"


def _relation_sql(relation: str, dialect: str) -> str:
    if relation.startswith(CSV_PREFIX):
        return f"read_csv_auto('{relation[len(CSV_PREFIX) :]}')"
    return dbt_relation(relation, dialect).sql(dialect=dialect)


def compile_project(
    config: ProjectConfig,
    target: Target,
    vars: dict[str, Any] | None = None,
    strict: bool = False,
    warehouse=None,
    write: bool = True,
    learn_from: Callable[[], Any] | None = None,
) -> Registry:
    """Compile the project for `target`; raise ValidationErrors listing every problem.

    The type of an online view's join key that the SQL does not reveal (a source without
    declared columns) is asked of the warehouse: `warehouse`, else the one `learn_from()` opens
    (only then), unless its entity declares it (``value_type``). When none can tell (a glob
    matching no file, a dbt relation not built yet), it is an error at the view's ``entities:``
    line."""
    loaded = load(config, vars)
    errors: list[SqlfeastError] = list(loaded.errors)
    try:
        library = load_macros(config, loaded)
        renderer = make_renderer(config, target, {**config.vars, **(vars or {})}, library)
        by_dbt = _render_with_dbt(loaded, target, vars, warehouse) if config.is_dbt and loaded.models else None
        relations = (
            DbtRelations(loaded, renderer, target, warehouse, by_dbt.relations if by_dbt else None)
            if config.is_dbt
            else None
        )
    except SqlfeastError as err:
        raise ValidationErrors(errors + [err]) from None

    rendered: dict[str, RenderedModel] = {}
    for name, file in loaded.models.items():
        model = RenderedModel(file, "")
        if by_dbt is not None and relations is not None:
            if name in by_dbt.errors:
                errors.append(by_dbt.errors[name])
                continue
            relations.adopt(model, by_dbt)
        else:
            try:
                model.sql = renderer.render(
                    file.header.body, file.path, _ModelContext(loaded, model, relations).as_globals()
                )
            except SqlfeastError as err:
                errors.append(err)
                continue
        model.lines = line_map(file.header.body, model.sql)
        rendered[name] = model

    views: dict[str, FeatureView] = {}
    header_lines: dict[str, dict[str, Any]] = {}  # view -> line of each header key, for messages
    for name, model in rendered.items():
        if model.file.header.is_feature_view:
            view = _feature_view_from_header(loaded, model, errors)
            if view is not None:
                views[name] = view
                header_lines[name] = (
                    aggregations.header_lines(model.file.header.data, view)
                    if view.is_aggregation
                    else _header_lines(model.file.header.data, view)
                )

    order, cycle_errors = graph.order_models(
        {n: list(m.refs) for n, m in rendered.items()}, {n: (m.file.path, m.refs) for n, m in rendered.items()}
    )
    errors.extend(cycle_errors)
    cyclic = {name for err in cycle_errors for name in err.cycle}

    schemas = analysis.source_schemas(loaded.sources, config.root, target.type)
    schema_cache: dict = {}  # sqlglot schemas shared by models that read the same relations
    push_tables = {push_table_name(config.name, p.name): p for p in loaded.push_sources.values()}
    for name in order:
        model = rendered[name]
        if name in cyclic or any(rendered.get(ref) is None or rendered[ref].ast is None for ref in model.refs):
            continue  # its own problem, or an upstream one, is reported already
        try:
            model.ast = analysis.parse_model(model, target.type)
        except SqlfeastError as err:
            errors.append(err)
            continue
        upstream = {}
        for key in model.sources:
            upstream[source_placeholder(*key.split(".", 1))] = schemas.get(key)
        for placeholder, relation in model.dbt_refs.items():
            declared = model.dbt_sources.get(placeholder)
            upstream[placeholder] = (
                schemas.get(declared)
                if declared and schemas.get(declared) is not None
                else (relations.columns(relation) if relations is not None else None)
            )
        for ref in model.refs:
            dep = rendered.get(ref)
            upstream[ref_relation(config.name, ref)] = _known_schema(dep)
        for table in analysis.other_tables(model.ast, upstream):
            # Push tables have the push source's declared schema; any other table is unknown.
            push = push_tables.get(table)
            upstream[table] = {c: parse_type(t) for c, t in push.schema.items()} if push else None
        try:
            model.columns, expanded = analysis.output_columns(model, upstream, schema_cache, target.type)
        except SqlfeastError as err:
            errors.append(err)
            continue
        if expanded is not None:
            model.ast = expanded  # SELECT * compiles to explicit columns
        analysis.drop_positions(model.ast)  # every message is located by now; copies get 3x cheaper
        if name in views and views[name].is_aggregation:
            errors.extend(aggregations.check_projection(views[name], model.columns, model.file, model.file.header.data))
        elif name in views:
            errors.extend(analysis.check_projection(views[name], model.columns, model.file, header_lines[name]))

    attach_tests(
        loaded,
        views,
        {n: None if (cols := rendered[n].columns) is None else {c.name for c in cols} for n in views},
        errors,
    )
    registry = Registry(
        project=config.name,
        entities=dict(loaded.entities),
        sources=dict(loaded.sources),
        feature_services=dict(loaded.feature_services),
        push_sources=dict(loaded.push_sources),
    )
    if not errors:
        ref_graph = {n: list(m.refs) for n, m in rendered.items()}  # built once, not per model
        cte_cache: dict[tuple[str, str], str] = {}
        for name in order:
            model = rendered[name]
            sql = {d: assemble_sql(model, rendered, loaded, d, ref_graph, cte_cache) for d in DIALECTS}
            deps = sorted([f"model:{r}" for r in model.refs] + [f"source:{s}" for s in model.sources])
            columns = {c.name: str(c.type) if c.type else "unknown" for c in model.columns or []}
            if name in views:
                view = views[name]
                view.sql, view.depends_on, view.columns = sql, deps, columns
                view.join_key_types = {k: columns.get(k, "unknown") for k in view.join_keys}
                registry.feature_views[name] = view
            else:
                registry.models[name] = Model(
                    name,
                    model.file.path,
                    sql,
                    deps,
                    columns,
                    {str(k): str(v) for k, v in (model.config.get("tags") or {}).items()}
                    if isinstance(model.config.get("tags"), dict)
                    else {},
                )
    if not errors:
        errors.extend(_learn_key_types(registry, warehouse, learn_from, header_lines, loaded.lines))
    errors.extend(_check_services(loaded, views))
    errors.extend(_check_push_sources(loaded, views))
    if strict and not errors and warehouse is not None:
        errors.extend(analysis.check_against_warehouse(registry, warehouse, header_lines))
    if errors:
        raise ValidationErrors(errors)
    if write:
        write_target(config, registry, rendered)
    return registry


def _learn_key_types(
    registry: Registry,
    warehouse: Any,
    learn_from: Callable[[], Any] | None,
    header_lines: dict[str, dict],
    entity_lines: dict[tuple[str, str], Location],
) -> list[SqlfeastError]:
    """Give every join key a type: the SQL's, else the entity's declared ``value_type``, else (for
    online views) the warehouse's DESCRIBE of the view. An online view's key still unknown is an
    error at the view's ``entities:`` line (a read could not turn text into the stored key), and
    a declared type of another family than the SQL's is an error at the entity."""
    from sqlfeast.core.types import from_warehouse

    errors: list[SqlfeastError] = []
    for view in registry.feature_views.values():
        owner = {
            k: e for e in reversed(view.entities) if e in registry.entities for k in registry.entities[e].join_keys
        }
        for key in view.join_keys:
            entity = registry.entities.get(owner.get(key, ""))
            declared = entity.join_key_types.get(key) if entity else None
            if entity is None or declared is None:
                continue
            known = view.join_key_types.get(key, "unknown")
            if known == "unknown":
                view.join_key_types[key] = view.columns[key] = declared
            elif parse_type(known).family != parse_type(declared).family:
                errors.append(
                    ValidationError(
                        f"entity '{entity.name}' declares join key '{key}' as {declared}, but feature view "
                        f"'{view.name}' gives it as {known}",
                        entity_lines.get(("entity", entity.name), Location(entity.path)),
                        hint=f"make them agree: change value_type, or CAST({key} AS {declared}) in the view's SELECT",
                    )
                )
        unknown = [k for k in view.join_keys if view.join_key_types.get(k, "unknown") == "unknown"]
        if not unknown or not view.online:
            continue
        described: dict[str, str] = {}
        why = "no warehouse was asked"
        try:
            if warehouse is None and learn_from is not None:
                warehouse = learn_from()
            if warehouse is not None:
                described = dict(warehouse.describe(warehouse.localize(view.sql[warehouse.dialect])))
                why = "the warehouse does not report it"
        except SqlfeastError as err:  # e.g. a dbt model not built yet, a glob matching no file
            why = f"the warehouse cannot describe the view: {err.message.strip().splitlines()[0]}"
        for key in unknown:
            found = from_warehouse(described[key]) if key in described else None
            if found is not None:
                view.join_key_types[key] = view.columns[key] = str(found)
                continue
            entity_name = owner.get(key, "...")
            errors.append(
                ValidationError(
                    f"the type of join key '{key}' of online feature view '{view.name}' is not known ({why})",
                    Location(view.path, header_lines.get(view.name, {}).get("entities")),
                    hint=f"declare it: 'value_type: bigint' on entity '{entity_name}', or the column's "
                    f"data_type in the source's columns: ([{{name: {key}, data_type: bigint}}]), or "
                    f"CAST({key} AS BIGINT) AS {key} in the SELECT; a dbt model must be built first (dbt run)",
                )
            )
    return errors


def _known_schema(model: RenderedModel | None) -> dict[str, FeatureType] | None:
    """A model's output schema for the models that read it: None unless every column's type is known."""
    if model is None or model.columns is None or any(c.type is None for c in model.columns):
        return None
    return {c.name: c.type for c in model.columns if c.type is not None}


def _feature_view_from_header(
    loaded: LoadedProject, model: RenderedModel, errors: list[SqlfeastError]
) -> FeatureView | None:
    data, path = model.file.header.data, model.file.path
    assert data is not None, "only a file with a header is a feature view"
    start = len(errors)

    def err(message: str, key: str | None = None, hint: str | None = None) -> None:
        errors.append(ValidationError(message, Location(path, data.key_line(key) if key else data.line), hint=hint))

    for key in data:
        if key not in HEADER_KEYS:
            err(
                f"unknown header key '{key}'", key, suggest(key, HEADER_KEYS) or f"known keys: {', '.join(HEADER_KEYS)}"
            )
    entities = data.get("entities")
    if isinstance(entities, str):
        entities = [entities]
    if not isinstance(entities, list) or not entities or not all(isinstance(e, str) for e in entities):
        err(
            "the header needs 'entities:' with a list of entity names",
            "entities" if "entities" in data else None,
            "e.g. entities: [driver]",
        )
        entities = []
    join_keys: list[str] = []
    for entity in entities:
        if entity not in loaded.entities:
            err(
                f"unknown entity '{entity}'",
                "entities",
                suggest(entity, loaded.entities) or "declare it under 'entities:' in a models/ YAML file",
            )
        else:
            join_keys += [k for k in loaded.entities[entity].join_keys if k not in join_keys]
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        err("the header needs 'timestamp:' naming the event time column", None, "e.g. timestamp: event_timestamp")
    created = data.get("created_timestamp")
    if created is not None and not isinstance(created, str):
        err("'created_timestamp' must be a column name", "created_timestamp")
    try:
        ttl = parse_ttl(data.get("ttl"))
    except ValueError as e:
        err(str(e), "ttl")
        ttl = 0
    online = data.get("online", True)
    if not isinstance(online, bool):
        err("'online' must be true or false", "online")
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        err("'tags' must be a mapping such as {team: drivers}", "tags")
        tags = {}
    features_data = data.get("features")
    features: list[Feature] = []
    # -- aggregation views (sqlfeast/compile/aggregations.py): aggregates instead of latest-value features
    aggs: list[aggregations.Aggregation] = []
    granularity = 0
    if "aggregations" in data:
        if "features" in data:
            err(
                "a view has 'features:' (latest values) or 'aggregations:' (windowed aggregates), not both",
                "aggregations",
                "move the latest-value features into a view of their own",
            )
        if "ttl" in data:
            err(
                "'ttl' does not apply to an aggregation view: each aggregation has its own window",
                "ttl",
                "remove 'ttl:'",
            )
        aggs, granularity = aggregations.parse_aggregations(data, path, errors)
        features = [Feature(a.name, "unknown", a.description) for a in aggs]
        # Online, an aggregation view is served from tiles (online/tiles.py); opt in with online: true.
        online = data.get("online") is True
    elif "granularity" in data:
        err("'granularity' applies only to a view with 'aggregations:'", "granularity", "remove 'granularity:'")
    # -- end of aggregation views
    if "aggregations" in data:
        pass
    elif not isinstance(features_data, LineDict) or not features_data:
        err(
            "the header needs 'features:' mapping each feature column to its type",
            "features" if "features" in data else None,
            "e.g. features: {conv_rate: double}",
        )
    else:
        for fname, fspec in features_data.items():
            description = ""
            if isinstance(fspec, LineDict):
                unknown = [k for k in fspec if k not in ("type", "description", "tests")]
                for k in unknown:
                    errors.append(
                        ValidationError(
                            f"unknown key '{k}' in feature '{fname}'",
                            Location(path, fspec.key_line(k)),
                            hint="use 'type', 'description' and 'tests'",
                        )
                    )
                description = str(fspec.get("description") or "")
                fspec = fspec.get("type")
            try:
                ftype = parse_type(fspec)
            except (ValueError, TypeError, AttributeError) as e:
                msg = str(e) if fspec is not None else f"feature '{fname}' needs a type"
                errors.append(
                    ValidationError(f"feature '{fname}': {msg}", Location(path, features_data.key_line(fname)))
                )
                continue
            features.append(Feature(str(fname), str(ftype), description))
    if len(errors) > start:
        return None
    meta = dict(data.get("meta") or {})
    return FeatureView(
        name=model.file.name,
        entities=list(entities),
        join_keys=join_keys,
        timestamp=str(timestamp),
        features=features,
        created_timestamp=created,
        ttl_seconds=ttl,
        online=online,
        description=str(data.get("description") or ""),
        owner=str(data.get("owner") or ""),
        tags={str(k): str(v) for k, v in tags.items()},
        path=path,
        meta=meta,
        aggregations=aggs,
        granularity_seconds=granularity,
    )


def _header_lines(data, view: FeatureView) -> dict[str, Any]:
    return {
        "header": data.line,
        "entities": data.key_line("entities"),
        "timestamp": data.key_line("timestamp"),
        "created_timestamp": data.key_line("created_timestamp"),
        "features": {f.name: data["features"].key_line(f.name) for f in view.features},
    }


def _check_services(loaded: LoadedProject, views: dict[str, FeatureView]) -> list[SqlfeastError]:
    errors: list[SqlfeastError] = []
    for service in loaded.feature_services.values():
        loc = loaded.lines.get(("feature_service_features", service.name))
        for ref in service.features:
            view_name, _, feature = ref.partition(":")
            if view_name not in loaded.models or not loaded.models[view_name].header.is_feature_view:
                errors.append(
                    ValidationError(
                        f"feature service '{service.name}' names unknown feature view '{view_name}'",
                        loc,
                        hint=suggest(view_name, views),
                    )
                )
            elif view_name in views and feature and views[view_name].feature(feature) is None:
                errors.append(
                    ValidationError(
                        f"feature service '{service.name}' names unknown feature '{ref}'",
                        loc,
                        hint=suggest(feature, views[view_name].feature_names),
                    )
                )
    return errors


def _check_push_sources(loaded: LoadedProject, views: dict[str, FeatureView]) -> list[SqlfeastError]:
    errors: list[SqlfeastError] = []
    for push in loaded.push_sources.values():
        loc = loaded.lines.get(("push_source", push.name))
        for view_name in push.feature_views:
            view = views.get(view_name)
            if view is None:
                if view_name not in loaded.models or not loaded.models[view_name].header.is_feature_view:
                    errors.append(
                        ValidationError(
                            f"push source '{push.name}' feeds unknown feature view '{view_name}'",
                            loc,
                            hint=suggest(view_name, views),
                        )
                    )
                continue
            needed = view.join_keys + [push.timestamp]
            missing = [c for c in needed if c not in push.schema]
            if missing:
                errors.append(
                    ValidationError(
                        f"push source '{push.name}' lacks column(s) {', '.join(missing)} that feature view '{view_name}' needs",
                        loc,
                        hint="add them to the push source's schema",
                    )
                )
            for column, ctype in push.schema.items():
                feature = view.feature(column)
                if feature is not None and parse_type(feature.type).family != parse_type(ctype).family:
                    errors.append(
                        ValidationError(
                            f"push source '{push.name}' column '{column}' is {ctype} but feature '{view_name}:{column}' is {feature.type}",
                            loc,
                            hint="make the types agree",
                        )
                    )
    return errors


def source_relation(source: SourceTable, dialect_name: str) -> exp.Expression:
    """The real relation a source() stands for in the dialect `dialect_name`."""
    if dialect(dialect_name).external_locations and source.external_location:
        query = sqlglot.parse_one(f"select * from {source.external_location}", dialect=dialect_name)
        return query.args["from_"].this
    # Unquoted unless needed: Snowflake then matches its upper-case names, as dbt does.
    return exp.table_(source.identifier or source.name, db=source.schema, catalog=source.database)


def dbt_relation(relation: str, dialect: str) -> exp.Table:
    """A relation name dbt gave (`"db"."main"."orders"`) as a table of `dialect`: quoted on
    DuckDB as dbt-duckdb writes it, unquoted on Snowflake (dbt-snowflake's default quoting)."""
    table = sqlglot.parse_one(relation, into=exp.Table, dialect="duckdb")
    if not DIALECTS[dialect].quoted_dbt_relations:
        for ident in table.find_all(exp.Identifier):
            ident.set("quoted", False)
    return table


def assemble_sql(
    model: RenderedModel,
    rendered: dict[str, RenderedModel],
    loaded: LoadedProject,
    dialect: str,
    ref_graph: dict[str, list[str]] | None = None,
    cte_cache: dict[tuple[str, str], str] | None = None,
) -> str:
    """Self-contained SQL: refs become CTEs (dependencies first), sources their real relations,
    and the outer projection is aliased with quoted names so every warehouse keeps their case.

    With `cte_cache` (shared by one compile run) each dependency's SQL is generated once per
    dialect and spliced into every query that inlines it: the text is the same as generating
    the whole query, only without redoing the dependency for each of its dependents."""
    project = loaded.config.name
    if ref_graph is None:
        ref_graph = {n: list(m.refs) for n, m in rendered.items()}
    chain = graph.ancestors(model.file.name, ref_graph)
    ctes = [(ref_relation(project, dep), rendered[dep]) for dep in chain]

    dbt_refs = {k: v for dep in [model, *(r for _, r in ctes)] for k, v in dep.dbt_refs.items()}

    def resolve(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in dbt_refs:
            relation = (
                sqlglot.parse_one(f"select * from {_relation_sql(dbt_refs[node.name], dialect)}", dialect=dialect)
                .args["from_"]
                .this
            )
            relation.set(
                "alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(relation.name, quoted=True))
            )
            return relation
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name.startswith(SOURCE_PREFIX):
            key = node.name[len(SOURCE_PREFIX) :].replace("__", ".", 1)
            relation = source_relation(loaded.sources[key], dialect).copy()
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(loaded.sources[key].name))
            relation.set("alias", alias)
            return relation
        return node

    def body(dep: RenderedModel) -> exp.Query:
        # One copy per tree: transform and generate work in place on it (sqlglot would copy again).
        assert dep.ast is not None and dep.columns is not None, "only analysed models are assembled"
        query = analysis.quote_outer_aliases(dep.ast.copy(), [c.name for c in dep.columns])
        return cast(exp.Query, query.transform(resolve, copy=False))

    query = body(model)
    splices: list[tuple[str, str]] = []  # (placeholder SQL, dependency SQL)
    if ctes:
        new = []
        for i, (name, dep) in enumerate(ctes):
            if cte_cache is None:
                this = body(dep)
            else:
                if (name, dialect) not in cte_cache:
                    cte_cache[(name, dialect)] = body(dep).sql(dialect=dialect, pretty=True, copy=False)
                this = exp.select(exp.Literal.string(f"__sqlfeast_cte_{i}__"))
                splices.append((this.sql(dialect=dialect, pretty=True), cte_cache[(name, dialect)]))
            new.append(exp.CTE(this=this, alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True))))
        existing = query.args.get("with_")
        if existing is not None:
            existing.set("expressions", new + list(existing.expressions))
        else:
            query.set("with_", exp.With(expressions=new))
    sql = query.sql(dialect=dialect, pretty=True, copy=False)
    for placeholder, text in splices:
        # Pretty printing indents a CTE body by two spaces on every line.
        placeholder, text = _indent_cte(placeholder), _indent_cte(text)
        if sql.count(placeholder) != 1:  # the query spells the placeholder itself: no splicing
            return assemble_sql(model, rendered, loaded, dialect, ref_graph)
        sql = sql.replace(placeholder, text)
    return sql


def _indent_cte(sql: str) -> str:
    return "\n".join("  " + line for line in sql.split("\n"))


def write_target(config: ProjectConfig, registry: Registry, rendered: dict[str, RenderedModel]) -> None:
    """target/compiled/<dialect>/<model path> and target/registry.json, each written atomically."""
    target = config.target_dir
    for name, model in rendered.items():
        if model.dbt_sql is not None:  # what dbt rendered, to compare with `dbt compile --inline`
            path = target / DBT_FOLDER / "rendered" / model.file.path
            if not path.is_file() or path.read_text() != model.dbt_sql:
                write_atomic(path, model.dbt_sql)
        obj = registry.feature_views.get(name) or registry.models.get(name)
        assert obj is not None, f"{name} is in the registry"
        for dialect_name, sql in obj.sql.items():
            path = target / "compiled" / dialect_name / model.file.path
            text = sql + "\n"
            # Unchanged files are left alone: reading is far cheaper than replacing.
            if not path.is_file() or path.read_text() != text:
                write_atomic(path, text)
    write_atomic(target / "registry.json", registry.to_json())
