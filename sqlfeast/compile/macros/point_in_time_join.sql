{#
  Point-in-time join: for every entity row and every requested view, the view row with equal join
  keys whose timestamp is <= the entity timestamp (and >= entity timestamp - ttl when ttl > 0),
  latest timestamp first, ties to the latest created timestamp; NULL when nothing qualifies.

  Called from sqlfeast/offline/historical.py as point_in_time_join(entity, views, options):
    entity  = {relation, row, ts}: the registered entity rows; `row` numbers them 0..n-1 and `ts`
              is their timestamp as naive UTC.
    views   = [{name, alias, sql, keys: [{view, entity}], ts, ts_type, created, created_type,
               ttl_seconds, lower, upper, features: [{name, output}]}]; lower/upper are the
              pushed-down time range (ISO text, naive UTC) or none.
    options = {strategy: asof|window|join, filter_by_created_timestamp: bool}
  The query returns one row per entity row: the row number and every requested feature, ordered
  by row number. Python re-attaches the entity's own columns, so they come back untouched.

  Strategies:
    asof   - the warehouse's ASOF join, ttl checked after. DuckDB: ASOF LEFT JOIN on the struct
             (ts, created is not null, created), which DuckDB orders field by field, so the join
             itself takes the latest ts and then the latest created: no dedup pass. Snowflake
             (ASOF JOIN MATCH_CONDITION takes one scalar comparison): against feature rows
             deduplicated on (keys, ts) by latest created.
    window - portable: union entity and feature rows, number feature rows per key in
             (ts, created) order, and carry the running max of that number onto each entity row.
    join   - portable: range join on keys and time bounds, keep the best row per entity row. Used
             whenever filter_by_created_timestamp is on (a second inequality no ASOF join can take).
#}

{#- There is deliberately no plain `point_in_time_join`: Renderer.call dispatches by target. #}
{% macro duckdb__point_in_time_join(entity, views, options) -%}
{{ pit_query(entity, views, options, 'duckdb') }}
{%- endmacro %}

{% macro snowflake__point_in_time_join(entity, views, options) -%}
{{ pit_query(entity, views, options, 'snowflake') }}
{%- endmacro %}

{% macro default__point_in_time_join(entity, views, options) -%}
{{ pit_query(entity, views, options, none) }}
{%- endmacro %}


{# ---- dialect helpers ------------------------------------------------------------------------ #}

{# A view's column. Snowflake folds unquoted names to upper case, so plain names are quoted upper. #}
{% macro pit_col(name) -%}{{ adapter.dispatch('pit_col')(name) }}{%- endmacro %}
{% macro default__pit_col(name) -%}{{ name | quote }}{%- endmacro %}
{% macro snowflake__pit_col(name) -%}
{%- if pit_is_plain(name) -%}{{ name | upper | quote }}{%- else -%}{{ name | quote }}{%- endif -%}
{%- endmacro %}
{% macro pit_is_plain(name) -%}
{%- set ns = namespace(ok=(name | length) > 0 and not (name[0] in '0123456789$')) -%}
{%- for ch in name -%}{%- if ch not in 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$' -%}{%- set ns.ok = false -%}{%- endif -%}{%- endfor -%}
{{- 'x' if ns.ok else '' -}}
{%- endmacro %}

{# A timestamp expression as naive UTC (timezone-aware values converted, never reinterpreted).
   Used for output columns only (materialize); comparisons never convert a feature row. #}
{% macro pit_utc(expr, type) -%}{{ adapter.dispatch('pit_utc')(expr, type) }}{%- endmacro %}
{% macro default__pit_utc(expr, type) -%}
{%- if type == 'timestamptz' -%}CAST(({{ expr }} AT TIME ZONE 'UTC') AS TIMESTAMP)
{%- elif type == 'date' -%}CAST({{ expr }} AS TIMESTAMP)
{%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}
{% macro duckdb__pit_utc(expr, type) -%}
{%- if type == 'timestamptz' -%}timezone('UTC', {{ expr }})
{%- elif type == 'date' -%}CAST({{ expr }} AS TIMESTAMP)
{%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}
{% macro snowflake__pit_utc(expr, type) -%}
{%- if type == 'timestamptz' -%}CAST(CONVERT_TIMEZONE('UTC', {{ expr }}) AS TIMESTAMP_NTZ)
{%- elif type == 'date' -%}CAST({{ expr }} AS TIMESTAMP_NTZ)
{%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}

{# The entity timestamp in the type of a view's time column, so that the feature column is compared
   as it is stored (no per-feature-row conversion, range filters stay pushable into the scan).
   naive: the entity's naive-UTC timestamp; aware: the same instant as a UTC-aware timestamp.
   A DATE d is visible at t exactly when d <= CAST(t AS DATE) (midnight of d <= t). #}
{% macro pit_probe(naive, aware, type) -%}{{ adapter.dispatch('pit_probe')(naive, aware, type) }}{%- endmacro %}
{% macro default__pit_probe(naive, aware, type) -%}
{%- if type == 'timestamptz' -%}{{ aware }}
{%- elif type == 'date' -%}CAST({{ naive }} AS DATE)
{%- else -%}{{ naive }}{%- endif -%}
{%- endmacro %}
{% macro snowflake__pit_probe(naive, aware, type) -%}
{%- if type == 'timestamptz' -%}TIMESTAMP_TZ_FROM_PARTS(YEAR({{ naive }}), MONTH({{ naive }}), DAY({{ naive }}), HOUR({{ naive }}), MINUTE({{ naive }}), SECOND({{ naive }}), NANOSECOND({{ naive }}), 'UTC')
{%- elif type == 'date' -%}CAST({{ naive }} AS DATE)
{%- else -%}{{ naive }}{%- endif -%}
{%- endmacro %}

{# A constant in the type of a time column; the text comes from Python's isoformat() (naive UTC),
   never from users. For DATE the day of the instant (callers round as they need). #}
{% macro pit_literal(iso, type) -%}{{ adapter.dispatch('pit_literal')(iso, type) }}{%- endmacro %}
{% macro default__pit_literal(iso, type) -%}
{%- if type == 'timestamptz' -%}CAST({{ (iso ~ '+00:00') | literal }} AS TIMESTAMPTZ)
{%- elif type == 'date' -%}CAST({{ iso[:10] | literal }} AS DATE)
{%- else -%}CAST({{ iso | literal }} AS TIMESTAMP){%- endif -%}
{%- endmacro %}
{% macro snowflake__pit_literal(iso, type) -%}
{%- if type == 'timestamptz' -%}CAST({{ (iso ~ ' +00:00') | literal }} AS TIMESTAMP_TZ)
{%- elif type == 'date' -%}CAST({{ iso[:10] | literal }} AS DATE)
{%- else -%}CAST({{ iso | literal }} AS TIMESTAMP_NTZ){%- endif -%}
{%- endmacro %}
{% macro pit_ts_literal(iso) -%}{{ pit_literal(iso, 'timestamp') }}{%- endmacro %}

{# +infinity in a time column's type (DuckDB's ASOF probe). #}
{% macro pit_infinity(type) -%}
CAST('infinity' AS {{ 'TIMESTAMPTZ' if type == 'timestamptz' else 'DATE' if type == 'date' else 'TIMESTAMP' }})
{%- endmacro %}

{# expr minus a whole number of seconds. #}
{% macro pit_minus_seconds(expr, seconds) -%}{{ adapter.dispatch('pit_minus_seconds')(expr, seconds) }}{%- endmacro %}
{% macro default__pit_minus_seconds(expr, seconds) -%}({{ expr }} - INTERVAL '{{ seconds | int }}' SECOND){%- endmacro %}
{% macro duckdb__pit_minus_seconds(expr, seconds) -%}({{ expr }} - to_seconds({{ seconds | int }})){%- endmacro %}
{% macro snowflake__pit_minus_seconds(expr, seconds) -%}DATEADD(second, {{ -(seconds | int) }}, {{ expr }}){%- endmacro %}

{# A feature cast to its declared type, so the training set has exactly the declared types. #}
{% macro pit_cast(expr, type) -%}
{%- if type -%}CAST({{ expr }} AS {{ type }}){%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}

{# The tie-break after (ts, created): every feature in declared order, greater first, NULL above
   every value (as DuckDB orders NULL inside a struct). dir is 'desc' (best first) or 'asc'. #}
{% macro pit_tiebreak(view, prefix, dir) -%}
{%- for f in view.order %}, {{ prefix }}{{ f.alias | quote }} {{ 'desc nulls first' if dir == 'desc' else 'asc nulls last' }}{% endfor -%}
{%- endmacro %}

{# ---- the query -------------------------------------------------------------------------------- #}

{% macro pit_view_strategy(view, options, asof_style) -%}
{%- if options.filter_by_created_timestamp and view.created -%}join
{%- elif options.strategy == 'asof' and not asof_style -%}window
{%- else -%}{{ options.strategy }}{%- endif -%}
{%- endmacro %}

{# The view's rows in neutral shape: __k<i>, __ts, __cr (as stored), __f<j> (declared types);
   the time range compared with literals of the column's own type, so the scan can use it. #}
{% macro pit_feature_rows(view) -%}
select
{%- for k in view['keys'] %}
    {{ pit_col(k.view) }} as {{ ('__k' ~ loop.index0) | quote }},
{%- endfor %}
    {{ pit_col(view.ts) }} as "__ts",
{%- if view.created %}
    {{ pit_col(view.created) }} as "__cr",
{%- else %}
    CAST(NULL AS TIMESTAMP) as "__cr",
{%- endif %}
{%- for f in view.features %}
    {{ pit_cast(pit_col(f.name), f.type) }} as {{ ('__f' ~ loop.index0) | quote }}{{ "," if not loop.last or view.extra }}
{%- endfor %}
{%- for f in view.extra %}
    {{ pit_cast(pit_col(f.name), f.type) }} as {{ f.alias | quote }}{{ "," if not loop.last }}
{%- endfor %}
from (
{{ view.sql }}
) as "__src"
where {{ pit_col(view.ts) }} is not null
{%- for k in view['keys'] %}
  and {{ pit_col(k.view) }} is not null
{%- endfor %}
{%- if view.upper %}
  and {{ pit_col(view.ts) }} <= {{ pit_literal(view.upper, view.ts_type) }}
{%- endif %}
{%- if view.lower %}
  and {{ pit_col(view.ts) }} >= {{ pit_literal(view.lower, view.ts_type) }}
{%- endif %}
{%- endmacro %}

{# DuckDB's ASOF order key, the one total order as a struct (DuckDB compares structs field by
   field, NULL above every value): {t: ts, n: created is not null, c: created, f0, f1, ...}. The
   entity side is {t: its ts, n: true, c: +infinity, f*: NULL}, >= every row with ts <= its ts. #}
{% macro pit_asof_key(view) -%}
{'t': "__ts"
{%- if view.created %}, 'n': "__cr" is not null, 'c': "__cr"{% endif -%}
{%- for f in view.order %}, '{{ f.alias }}': {{ f.alias | quote }}{% endfor -%}
}
{%- endmacro %}
{#- NULL when the entity has no ts: a struct with a NULL field is not NULL (and would match). #}
{% macro pit_asof_probe(view, ts) -%}
CASE WHEN {{ ts }} IS NOT NULL THEN {'t': {{ ts }}
{%- if view.created %}, 'n': true, 'c': {{ pit_infinity(view.created_type) }}{% endif -%}
{%- for f in view.order %}, '{{ f.alias }}': CAST(NULL AS {{ f.type }}){% endfor -%}
} END
{%- endmacro %}

{% macro pit_key_list(view, prefix) -%}
{%- for k in view['keys'] -%}{{ prefix }}{{ ('__k' ~ loop.index0) | quote }}{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}

{% macro pit_feature_list(view, prefix) -%}
{%- for f in view.features -%}{{ prefix }}{{ ('__f' ~ loop.index0) | quote }}{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}

{# ttl check of a chosen row (ts <= the entity's ts holds already): ts >= entity ts - ttl, computed
   on the entity side; a DATE row counts from its midnight. #}
{% macro pit_ttl_ok(view, fts, naive, aware) -%}
{%- if view.ts_type == 'timestamptz' -%}{{ fts }} >= {{ pit_minus_seconds(aware, view.ttl_seconds) }}
{%- elif view.ts_type == 'date' -%}{{ pit_utc(fts, 'date') }} >= {{ pit_minus_seconds(naive, view.ttl_seconds) }}
{%- else -%}{{ fts }} >= {{ pit_minus_seconds(naive, view.ttl_seconds) }}{%- endif -%}
{%- endmacro %}

{# A lower bound for a range join in the column's type: exact, or the day of it for DATE (the
   exact ttl check follows the join). #}
{% macro pit_lower_bound(view, naive, aware) -%}
{%- if view.ts_type == 'timestamptz' -%}{{ pit_minus_seconds(aware, view.ttl_seconds) }}
{%- elif view.ts_type == 'date' -%}CAST({{ pit_minus_seconds(naive, view.ttl_seconds) }} AS DATE)
{%- else -%}{{ pit_minus_seconds(naive, view.ttl_seconds) }}{%- endif -%}
{%- endmacro %}

{% macro pit_query(entity, views, options, asof_style) -%}
{%- set E = entity.relation -%}
{%- set ROW = entity.row | quote -%}
{%- set ETS = entity.ts | quote -%}
{%- set ETZ = entity.tstz | quote -%}
with "__entities" as (
    select *
{%- for view in views %}
{%- set i = loop.index0 %}, {{ pit_probe(ETS, ETZ, view.ts_type) }} as "__p{{ i }}"
{%- if options.filter_by_created_timestamp and view.created %}, {{ pit_probe(ETS, ETZ, view.created_type) }} as "__pc{{ i }}"{% endif %}
{%- endfor %}
    from {{ E }}
)
{%- for view in views %}
{%- set i = loop.index0 %}
{%- set P = '"__p' ~ i ~ '"' %}
{%- set strategy = pit_view_strategy(view, options, asof_style) | trim %}
, "__fv{{ i }}" as (
{{ pit_feature_rows(view) }}
)
{%- if strategy == 'asof' and asof_style == 'duckdb' %}
{#- No dedup: the ASOF order key is the whole total order (see pit_asof_key). A dedup pass
    (row_number per keys, ts) made the query ~1.5-2x slower and ~80 MB larger at 1M x 5M. #}
, "__fa{{ i }}" as (
    select {{ pit_key_list(view, '') }}, {{ pit_asof_key(view) }} as "__o"
    from "__fv{{ i }}"
)
{%- elif strategy == 'asof' %}
{#- Keep one row per (keys, ts): the first in the total order. The ASOF join then takes the latest ts. #}
, "__fa{{ i }}" as (
    select {{ pit_key_list(view, '') }}, "__ts", {{ pit_feature_list(view, '') }}
    from (
        select *, row_number() over (partition by {{ pit_key_list(view, '') }}, "__ts"
                                     order by "__cr" desc nulls last{{ pit_tiebreak(view, '', 'desc') }}) as "__rn"
        from "__fv{{ i }}"
    ) as "__d"
    where "__rn" = 1
)
{%- elif strategy == 'window' %}
{#- Number feature rows per key in the total order; an entity row sorts after every feature row
    with the same ts, so the running max number is the row it should see. #}
, "__fn{{ i }}" as (
    select *, row_number() over (partition by {{ pit_key_list(view, '') }}
                                 order by "__ts", "__cr" nulls first{{ pit_tiebreak(view, '', 'asc') }}) as "__fid"
    from "__fv{{ i }}"
)
, "__fu{{ i }}" as (
    select {{ pit_key_list(view, '') }}, "__ts", 0 as "__kind", "__fid", CAST(NULL AS BIGINT) as "__row"
    from "__fn{{ i }}"
    union all
    select
{%- for k in view['keys'] %} e.{{ k.entity | quote }},{% endfor %} e.{{ P }}, 1, CAST(NULL AS BIGINT), e.{{ ROW }}
    from "__entities" as e
    where e.{{ ETS }} is not null
{%- for k in view['keys'] %}
      and e.{{ k.entity | quote }} is not null
{%- endfor %}
)
, "__fp{{ i }}" as (
    select "__row", {{ pit_key_list(view, '') }}, "__kind",
           max("__fid") over (partition by {{ pit_key_list(view, '') }} order by "__ts", "__kind"
                              rows between unbounded preceding and current row) as "__fid"
    from "__fu{{ i }}"
)
, "__fr{{ i }}" as (
    select p."__row", f."__ts", {{ pit_feature_list(view, 'f.') }}
    from "__fp{{ i }}" as p
    join "__fn{{ i }}" as f
      on f."__fid" = p."__fid"
{%- for k in view['keys'] %}
     and f.{{ ('__k' ~ loop.index0) | quote }} = p.{{ ('__k' ~ loop.index0) | quote }}
{%- endfor %}
    where p."__kind" = 1
)
{%- else %}
{#- Range join on keys and time bounds, then the first candidate in the total order. #}
, "__fr{{ i }}" as (
    select "__row", "__ts", {{ pit_feature_list(view, '') }}
    from (
        select e.{{ ROW }} as "__row", f."__ts", {{ pit_feature_list(view, 'f.') }},
               row_number() over (partition by e.{{ ROW }}
                                  order by f."__ts" desc, f."__cr" desc nulls last{{ pit_tiebreak(view, 'f.', 'desc') }}) as "__rn"
        from "__entities" as e
        join "__fv{{ i }}" as f
          on {% for k in view['keys'] %}f.{{ ('__k' ~ loop.index0) | quote }} = e.{{ k.entity | quote }} and {% endfor %}f."__ts" <= e.{{ P }}
{%- if view.ttl_seconds > 0 %} and f."__ts" >= {{ pit_lower_bound(view, 'e.' ~ ETS, 'e.' ~ ETZ) }}{% endif %}
{%- if options.filter_by_created_timestamp and view.created %}
         and f."__cr" <= e."__pc{{ i }}"
{%- endif %}
    ) as "__c"
    where "__rn" = 1
)
{%- endif %}
{%- endfor %}
select
    e.{{ ROW }}
{%- for view in views %}
{%- set i = loop.index0 %}
{%- set v = '"__v' ~ i ~ '"' %}
{%- set strategy = pit_view_strategy(view, options, asof_style) | trim %}
{%- set duck_asof = strategy == 'asof' and asof_style == 'duckdb' %}
{%- set vts = ('struct_extract(' ~ v ~ '."__o", \'t\')') if duck_asof else (v ~ '."__ts"') %}
{%- for f in view.features %}
{%- set value = ('struct_extract(' ~ v ~ '."__o", \'__f' ~ loop.index0 ~ '\')') if duck_asof else (v ~ '.' ~ ('__f' ~ loop.index0) | quote) %}
{%- if view.ttl_seconds > 0 %}
    , case when {{ pit_ttl_ok(view, vts, 'e.' ~ ETS, 'e.' ~ ETZ) }} then {{ value }} end as {{ f.output | quote }}
{%- else %}
    , {{ value }} as {{ f.output | quote }}
{%- endif %}
{%- endfor %}
{%- endfor %}
from "__entities" as e
{%- for view in views %}
{%- set i = loop.index0 %}
{%- set strategy = pit_view_strategy(view, options, asof_style) | trim %}
{%- if strategy == 'asof' and asof_style == 'snowflake' %}
asof join "__fa{{ i }}" as "__v{{ i }}"
  match_condition (e."__p{{ i }}" >= "__v{{ i }}"."__ts")
  on {% for k in view['keys'] %}e.{{ k.entity | quote }} = "__v{{ i }}".{{ ('__k' ~ loop.index0) | quote }}{{ " and " if not loop.last }}{% endfor %}
{%- elif strategy == 'asof' %}
asof left join "__fa{{ i }}" as "__v{{ i }}"
  on {% for k in view['keys'] %}e.{{ k.entity | quote }} = "__v{{ i }}".{{ ('__k' ~ loop.index0) | quote }} and {% endfor %}{{ pit_asof_probe(view, 'e."__p' ~ i ~ '"') }} >= "__v{{ i }}"."__o"
{%- else %}
left join "__fr{{ i }}" as "__v{{ i }}" on "__v{{ i }}"."__row" = e.{{ ROW }}
{%- endif %}
{%- endfor %}
order by e.{{ ROW }}
{%- endmacro %}
