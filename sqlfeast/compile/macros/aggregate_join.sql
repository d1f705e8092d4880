{#
  Windowed aggregates per entity row: for the entity row (k, t) each aggregate covers the view's
  rows with keys k and t - window <= ts <= t (both ends inclusive).

  Called from sqlfeast/aggregate_join.py as aggregate_join(entity, view, options):
    entity  = {relation, row, ts}: the registered entity rows (row numbers 0..n-1, ts naive UTC).
    view    = {name, sql, keys: [{view, entity}], ts, ts_type, created, created_type, lower, upper,
               columns: [name], windows: [seconds], max_window,
               aggregates: [{output, function, column (index into columns or none), window, cast}]}
              lower/upper bound the scanned rows (ISO text, naive UTC) or are none; cast is the
              output type's spelling in the warehouse, or none.
    options = {strategy}
  The query returns one row per entity row, the row number then each aggregate under its output
  name, ordered by row number. Uses pit_col / pit_utc / pit_ts_literal / pit_minus_seconds from
  point_in_time_join.sql.

  Strategies:
    window - DuckDB: one pass of window functions over the union of entity and event rows, one
             RANGE frame per distinct window (RANGE frames include peers: ts = t is in, and
             ts = t - window is in). `last` is arg_max_null over the (ts, created) order key.
    join   - portable: range join of entity rows to the event rows of the longest window, then
             one GROUP BY per entity row with each aggregate filtered to its own window. `last`
             is the row ranked first by ts desc, created desc (nulls last), if it lies in the
             window.
    DuckDB's default (agg_duckdb_join) is the same range join with cheaper aggregates:
             FILTER clauses; count_distinct as a plain count of the rows whose previous row
             with the same keys and value lies before the window (so no DISTINCT hash table);
             `last` once per column over the longest window (arg_max_null over a HUGEINT order
             key), kept for a shorter window when its ts lies in it.
#}

{#- DuckDB: the range join with cheap aggregates unless the window strategy (or join, the portable
    query) is asked for; docs/benchmarks.md has the measurements behind the choice. #}
{% macro duckdb__aggregate_join(entity, view, options) -%}
{%- if options.strategy == 'window' -%}{{ agg_window_query(entity, view) }}
{%- elif options.strategy == 'join' -%}{{ agg_range_join(entity, view, 'duckdb') }}
{%- else -%}{{ agg_duckdb_join(entity, view) }}{%- endif -%}
{%- endmacro %}

{% macro snowflake__aggregate_join(entity, view, options) -%}
{{ agg_range_join(entity, view, none) }}
{%- endmacro %}

{% macro default__aggregate_join(entity, view, options) -%}
{{ agg_range_join(entity, view, none) }}
{%- endmacro %}


{# The view's rows in neutral shape: __k<i>, __ts, __cr (naive UTC), __c<j>; time range pushed down. #}
{% macro agg_event_rows(view) -%}
select
{%- for k in view['keys'] %}
    {{ pit_col(k.view) }} as {{ ('__k' ~ loop.index0) | quote }},
{%- endfor %}
    {{ pit_utc(pit_col(view.ts), view.ts_type) }} as "__ts",
{%- if view.created %}
    {{ pit_utc(pit_col(view.created), view.created_type) }} as "__cr"
{%- else %}
    CAST(NULL AS TIMESTAMP) as "__cr"
{%- endif %}
{%- for c in view.columns %},
    {{ pit_col(c) }} as {{ ('__c' ~ loop.index0) | quote }}
{%- endfor %}
from (
{{ view.sql }}
) as "__src"
where {{ pit_utc(pit_col(view.ts), view.ts_type) }} is not null
{%- for k in view['keys'] %}
  and {{ pit_col(k.view) }} is not null
{%- endfor %}
{%- if view.upper %}
  and {{ pit_utc(pit_col(view.ts), view.ts_type) }} <= {{ pit_ts_literal(view.upper) }}
{%- endif %}
{%- if view.lower %}
  and {{ pit_utc(pit_col(view.ts), view.ts_type) }} >= {{ pit_ts_literal(view.lower) }}
{%- endif %}
{%- endmacro %}

{#- expr minus whole seconds; DuckDB's INTERVAL literal measured ~10% faster than to_seconds() here. #}
{% macro agg_minus_seconds(expr, seconds) -%}{{ adapter.dispatch('agg_minus_seconds')(expr, seconds) }}{%- endmacro %}
{% macro default__agg_minus_seconds(expr, seconds) -%}{{ pit_minus_seconds(expr, seconds) }}{%- endmacro %}
{% macro duckdb__agg_minus_seconds(expr, seconds) -%}({{ expr }} - INTERVAL {{ seconds | int }} SECOND){%- endmacro %}

{% macro agg_key_list(view) -%}
{%- for k in view['keys'] -%}{{ ('__k' ~ loop.index0) | quote }}{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}

{% macro agg_cast(expr, cast) -%}
{%- if cast %}CAST({{ expr }} AS {{ cast }}){% else %}{{ expr }}{% endif -%}
{%- endmacro %}


{# ---- window strategy (DuckDB) ----------------------------------------------------------------- #}

{% macro agg_window_expr(view, a) -%}
{%- set c = ('__c' ~ a.column) | quote if a.column is not none else none -%}
{%- set w = ('__w' ~ a.window) | quote -%}
{%- if a.function == 'count' and c is none -%}count("__ev") over {{ w }}
{%- elif a.function == 'count' -%}count({{ c }}) over {{ w }}
{%- elif a.function == 'count_distinct' -%}count(distinct {{ c }}) over {{ w }}
{%- elif a.function == 'stddev' -%}stddev_samp({{ c }}) over {{ w }}
{%- elif a.function == 'last' -%}arg_max_null({{ c }}, case when "__ev" is not null then {{ agg_order_key(view) }} end) over {{ w }}
{%- else -%}{{ a.function }}({{ c }}) over {{ w }}
{%- endif -%}
{%- endmacro %}

{#- The `last` order: latest ts, then a row with a created timestamp over one without, then the
    latest created (structs compare field by field; NULL created only sits behind n = false). #}
{% macro agg_order_key(view) -%}
{%- if view.created -%}{'t': "__ts", 'n': "__cr" is not null, 'c': "__cr"}{%- else -%}"__ts"{%- endif -%}
{%- endmacro %}

{% macro agg_window_query(entity, view) -%}
{%- set ROW = entity.row | quote -%}
{%- set ETS = entity.ts | quote -%}
with "__ae" as (
{{ agg_event_rows(view) }}
)
, "__au" as (
    select {{ agg_key_list(view) }}, "__ts", "__cr", 1 as "__ev", CAST(NULL AS BIGINT) as "__row"
{%- for c in view.columns %}, {{ ('__c' ~ loop.index0) | quote }}{% endfor %}
    from "__ae"
    union all
    select {% for k in view['keys'] %}e.{{ k.entity | quote }}, {% endfor %}e.{{ ETS }}, NULL, NULL, e.{{ ROW }}
{%- for c in view.columns %}, NULL{% endfor %}
    from {{ entity.relation }} as e
)
select "__row" as {{ ROW }}
{%- for a in view.aggregates %}
    , {{ agg_cast(agg_window_expr(view, a), a.cast) }} as {{ a.output | quote }}
{%- endfor %}
from "__au"
window
{%- for w in view.windows %}
    {{ ('__w' ~ w) | quote }} as (partition by {{ agg_key_list(view) }} order by "__ts"
        range between to_seconds({{ w | int }}) preceding and current row){{ "," if not loop.last }}
{%- endfor %}
qualify "__row" is not null
order by "__row"
{%- endmacro %}


{# ---- join strategy (portable) ----------------------------------------------------------------- #}

{% macro agg_join_expr(view, a, style) -%}
{%- set c = ('__c' ~ a.column) | quote if a.column is not none else '"__ev"' -%}
{%- set inw = '"__ts" >= ' ~ agg_minus_seconds('"__ets"', a.window) -%}
{%- if a.function == 'count' -%}count(case when {{ inw }} then {{ c }} end)
{%- elif a.function == 'count_distinct' -%}count(distinct case when {{ inw }} then {{ c }} end)
{%- elif a.function == 'stddev' -%}stddev_samp(case when {{ inw }} then {{ c }} end)
{%- elif a.function == 'last' and style == 'duckdb' -%}arg_max_null(case when {{ inw }} then {{ c }} end, case when {{ inw }} then {{ agg_order_key(view) }} end)
{%- elif a.function == 'last' -%}max(case when "__rn" = 1 and {{ inw }} then {{ c }} end)
{%- else -%}{{ a.function }}(case when {{ inw }} then {{ c }} end)
{%- endif -%}
{%- endmacro %}

{% macro agg_range_join(entity, view, style) -%}
{%- set ROW = entity.row | quote -%}
{%- set ETS = entity.ts | quote -%}
with "__ae" as (
{{ agg_event_rows(view) }}
)
, "__aj" as (
    select e.{{ ROW }} as "__row", e.{{ ETS }} as "__ets", f."__ts",
           case when f."__ts" is not null then 1 end as "__ev"
{%- if style == 'duckdb' %}, f."__cr"
{%- else %},
           row_number() over (partition by e.{{ ROW }} order by f."__ts" desc nulls last,
                                                               f."__cr" desc nulls last) as "__rn"
{%- endif %}
{%- for c in view.columns %}, f.{{ ('__c' ~ loop.index0) | quote }}{% endfor %}
    from {{ entity.relation }} as e
    left join "__ae" as f
      on {% for k in view['keys'] %}f.{{ ('__k' ~ loop.index0) | quote }} = e.{{ k.entity | quote }} and {% endfor %}f."__ts" <= e.{{ ETS }}
     and f."__ts" >= {{ agg_minus_seconds('e.' ~ ETS, view.max_window) }}
)
select "__row" as {{ ROW }}
{%- for a in view.aggregates %}
    , {{ agg_cast(agg_join_expr(view, a, style), a.cast) }} as {{ a.output | quote }}
{%- endfor %}
from "__aj"
group by "__row"
order by "__row"
{%- endmacro %}


{# ---- DuckDB's default: the range join with cheap aggregates ---------------------------------- #}

{#- The `last` order as one HUGEINT: ts in the high 64 bits, then a row with a created timestamp
    over one without (0), then the latest created (microseconds shifted to be positive). #}
{% macro agg_duckdb_order(view) -%}
{%- if view.created -%}
(CAST(epoch_us("__ts") AS HUGEINT) * 18446744073709551616 + COALESCE(epoch_us("__cr") + 4611686018427387905, 0))
{%- else -%}"__ts"{%- endif -%}
{%- endmacro %}

{% macro agg_duckdb_expr(view, a, ets) -%}
{%- set c = ('__c' ~ a.column) | quote if a.column is not none else none -%}
{%- set lower = agg_minus_seconds(ets, a.window) -%}
{%- set inw = '"__ts" >= ' ~ lower -%}
{%- if a.function == 'count' and c is none -%}count(*) filter (where {{ inw }})
{%- elif a.function == 'count_distinct' -%}count(*) filter (where {{ inw }} and {{ ('__p' ~ a.column) | quote }} < {{ lower }})
{%- elif a.function == 'stddev' -%}stddev_samp({{ c }}) filter (where {{ inw }})
{%- elif a.function == 'last' -%}NULL
{%- else -%}{{ a.function }}({{ c }}) filter (where {{ inw }})
{%- endif -%}
{%- endmacro %}

{% macro agg_duckdb_join(entity, view) -%}
{%- set ROW = entity.row | quote -%}
{%- set ETS = entity.ts | quote -%}
{%- set ns = namespace(distinct=[], last=[]) -%}
{%- for a in view.aggregates -%}
{%- if a.function == 'count_distinct' and a.column not in ns.distinct %}{% set ns.distinct = ns.distinct + [a.column] %}{% endif -%}
{%- if a.function == 'last' and a.column not in ns.last %}{% set ns.last = ns.last + [a.column] %}{% endif -%}
{%- endfor -%}
with "__ae" as (
{{ agg_event_rows(view) }}
)
, "__ap" as (
    select {{ agg_key_list(view) }}, "__ts"
{%- if ns.last %}, {{ agg_duckdb_order(view) }} as "__o"{% endif %}
{%- for c in view.columns %}, {{ ('__c' ~ loop.index0) | quote }}{% endfor %}
{%- for j in ns.distinct %}{% set c = ('__c' ~ j) | quote %},
           case when {{ c }} is not null then coalesce(lag("__ts") over (partition by {{ agg_key_list(view) }}, {{ c }} order by "__ts"),
                                                         CAST('-infinity' AS TIMESTAMP)) end as {{ ('__p' ~ j) | quote }}
{%- endfor %}
    from "__ae"
)
, "__ag" as (
    select e.{{ ROW }} as "__row", any_value(e.{{ ETS }}) as "__ets"
{%- for j in ns.last %}, arg_max_null(f.{{ ('__c' ~ j) | quote }}, f."__o") filter (where f."__ts" is not null) as {{ ('__l' ~ j) | quote }}{% endfor %}
{%- if ns.last %}, max(f."__ts") as "__lt"{% endif %}
{%- for a in view.aggregates %}{% if a.function != 'last' %}
         , {{ agg_duckdb_expr(view, a, 'e.' ~ ETS) }} as {{ ('__a' ~ loop.index0) | quote }}{% endif %}
{%- endfor %}
    from {{ entity.relation }} as e
    left join "__ap" as f
      on {% for k in view['keys'] %}f.{{ ('__k' ~ loop.index0) | quote }} = e.{{ k.entity | quote }} and {% endfor %}f."__ts" <= e.{{ ETS }}
     and f."__ts" >= {{ agg_minus_seconds('e.' ~ ETS, view.max_window) }}
    group by e.{{ ROW }}
)
select "__row" as {{ ROW }}
{%- for a in view.aggregates %}
{%- if a.function == 'last' %}
    , {{ agg_cast('case when "__lt" >= ' ~ agg_minus_seconds('"__ets"', a.window) ~ ' then ' ~ (('__l' ~ a.column) | quote) ~ ' end', a.cast) }} as {{ a.output | quote }}
{%- else %}
    , {{ agg_cast(('__a' ~ loop.index0) | quote, a.cast) }} as {{ a.output | quote }}
{%- endif %}
{%- endfor %}
from "__ag"
order by "__row"
{%- endmacro %}
