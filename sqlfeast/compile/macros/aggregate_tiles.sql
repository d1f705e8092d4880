{#
  aggregate_tiles(view): the partial aggregates of an online aggregation view, one row per
  entity and sub-tile, for the rows with lower <= ts < end. A tile of g microseconds is cut in
  two sub-tiles: its first instant (key 2*i) and the rest (key 2*i + 1).

  Called from sqlfeast/offline/tiles.py with
    view = {sql, keys: [{view, entity}], ts, ts_type, created, created_type, columns: [name],
            lower, upper (none), end (ISO text, naive UTC), granularity_us,
            stats: [{sum, sum_type, sumsq, minmax, last, distinct}] (one per column),
            part, parts: on DuckDB only the entities whose keys hash to part of parts}
  The result has the join keys (named as the view names them), "__tile" (the sub-tile key),
  "__n" (rows), "__maxts" (latest ts, microseconds) and per column j "__nn<j>" (non-NULL
  values), and as asked "__s<j>", "__q<j>" (sum of squares), "__lo<j>", "__hi<j>", "__last<j>"
  (the value of the row with the latest ts, then created; NULL included) and "__d<j>" (the
  distinct non-NULL values as a list), ordered by the keys and "__tile". Uses agg_event_rows and
  agg_order_key from aggregate_join.sql.
#}
{% macro aggregate_tiles(view) -%}
{{ adapter.dispatch('aggregate_tiles')(view) }}
{%- endmacro %}

{% macro duckdb__aggregate_tiles(view) -%}
{%- set g = view.granularity_us | int -%}
with "__ae" as (
{{ agg_event_rows(view) }}
), "__at" as (
    select *, epoch_us("__ts") as "__us" from "__ae" where "__ts" < {{ pit_ts_literal(view.end) }}
    {%- if view.parts > 1 %}
      and hash({% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}{{ ", " if not loop.last }}{% endfor %}) % {{ view.parts | int }} = {{ view.part | int }}
    {%- endif %}
)
select
{%- for k in view['keys'] %}
    {{ ('__k' ~ loop.index0) | quote }} as {{ k.view | quote }},
{%- endfor %}
    2 * ("__us" // {{ g }}) + case when "__us" % {{ g }} = 0 then 0 else 1 end as "__tile",
    count(*) as "__n",
    max("__us") as "__maxts"
{{- tile_partials(view, tile_last_by_order, tile_distinct_list) }}
from "__at"
group by all
order by {% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}, {% endfor %}"__tile"
{%- endmacro %}

{#
  aggregate_events(view): the events of an aggregation view, unaggregated and sorted, for a
  warehouse that hands them to the client (`tile_rows`: offline/tile_rows.py builds sub-tiles).
  Same `view` as aggregate_tiles (without `end`: every event of the scan). The result has the join keys
  (named as the view names them), "__us" (ts in epoch microseconds) and per column j "__c<j>",
  ordered by the keys and the order of `last` (ts, then created with NULL first), so each
  entity's and each sub-tile's rows are consecutive, the latest last.
#}
{% macro aggregate_events(view) -%}
{{ adapter.dispatch('aggregate_events')(view) }}
{%- endmacro %}

{% macro duckdb__aggregate_events(view) -%}
with "__ae" as (
{{ agg_event_rows(view) }}
)
select
{%- for k in view['keys'] %}
    {{ ('__k' ~ loop.index0) | quote }} as {{ k.view | quote }},
{%- endfor %}
    epoch_us("__ts") as "__us"
{%- for c in view.columns %},
    {{ ('__c' ~ loop.index0) | quote }}
{%- endfor %}
from "__ae"
{%- if view.end %}
where "__ts" < {{ pit_ts_literal(view.end) }}
{%- if view.parts > 1 %}
  and hash({% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}{{ ", " if not loop.last }}{% endfor %}) % {{ view.parts | int }} = {{ view.part | int }}
{%- endif %}
{%- endif %}
order by {% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}, {% endfor %}{{ agg_order_key(view) }}
{%- endmacro %}

{#- Portable SQL (Snowflake and others): epoch microseconds by DATE_PART, the last value as the
    first row by ts desc, created desc, distinct values by ARRAY_AGG(DISTINCT). #}
{% macro default__aggregate_tiles(view) -%}
{%- set g = view.granularity_us | int -%}
with "__ae" as (
{{ agg_event_rows(view) }}
), "__at" as (
    select "__ae".*, CAST(DATE_PART(epoch_microsecond, "__ts") AS BIGINT) as "__us"
    from "__ae" where "__ts" < {{ pit_ts_literal(view.end) }}
), "__ak" as (
    select "__at".*,
           2 * FLOOR("__us" / {{ g }}) + case when MOD("__us", {{ g }}) = 0 then 0 else 1 end as "__tile"
    from "__at"
), "__ar" as (
    select "__ak".*, row_number() over (
        partition by {% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}, {% endfor %}"__tile"
        order by "__ts" desc, "__cr" desc nulls last) as "__rn"
    from "__ak"
)
select
{%- for k in view['keys'] %}
    {{ ('__k' ~ loop.index0) | quote }} as {{ k.view | quote }},
{%- endfor %}
    CAST("__tile" AS BIGINT) as "__tile",
    count(*) as "__n",
    max("__us") as "__maxts"
{{- tile_partials(view, tile_last_first_row, tile_distinct_array) }}
from "__ar"
group by {% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}, {% endfor %}"__tile"
order by {% for k in view['keys'] %}{{ ('__k' ~ loop.index0) | quote }}, {% endfor %}"__tile"
{%- endmacro %}

{# The partial aggregates of each column of one tile (after count and max ts); `last` and
   `distinct` give the warehouse's expression for the latest value and the distinct values. #}
{% macro tile_partials(view, last, distinct) -%}
{%- for c in view.columns %}
{%- set j = loop.index0 -%}
{%- set col = ('__c' ~ j) | quote -%}
{%- set st = view.stats[j] %},
    count({{ col }}) as {{ ('__nn' ~ j) | quote }}
{%- if st.sum %},
    CAST(sum({{ col }}) AS {{ st.sum_type }}) as {{ ('__s' ~ j) | quote }}
{%- endif %}
{%- if st.sumsq %},
    sum(CAST({{ col }} AS DOUBLE) * CAST({{ col }} AS DOUBLE)) as {{ ('__q' ~ j) | quote }}
{%- endif %}
{%- if st.minmax %},
    min({{ col }}) as {{ ('__lo' ~ j) | quote }},
    max({{ col }}) as {{ ('__hi' ~ j) | quote }}
{%- endif %}
{%- if st.last %},
    {{ last(col, view) }} as {{ ('__last' ~ j) | quote }}
{%- endif %}
{%- if st.distinct %},
    {{ distinct(col) }} as {{ ('__d' ~ j) | quote }}
{%- endif %}
{%- endfor %}
{%- endmacro %}
{% macro tile_last_by_order(col, view) -%}arg_max_null({{ col }}, {{ agg_order_key(view) }}){%- endmacro %}
{% macro tile_last_first_row(col, view) -%}max(case when "__rn" = 1 then {{ col }} end){%- endmacro %}
{#- DuckDB: the list of a sub-tile's values, then its distinct non-NULL ones (list_distinct drops
    NULLs): ~20% less time for the whole tile query than a DISTINCT aggregate per sub-tile. #}
{% macro tile_distinct_list(col) -%}list_distinct(list({{ col }})){%- endmacro %}
{% macro tile_distinct_array(col) -%}ARRAY_AGG(DISTINCT {{ col }}){%- endmacro %}
