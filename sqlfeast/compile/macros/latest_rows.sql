{#
  latest_rows(view): the latest row of each entity whose timestamp is in [start, end), ties on the
  timestamp going to the latest created timestamp. Called from sqlfeast/offline/materialize.py with
    view = {sql, keys: [..], ts, ts_type, created, created_type, features: [..], start, end}
  where sql is the view's compiled SELECT and start/end are naive-UTC timestamp text. The result
  has the join keys, the timestamp (as naive UTC), the created timestamp (if any) and the
  features, under their own (lower-case) names. Uses pit_col / pit_utc from point_in_time_join.sql.
#}
{% macro latest_rows(view) -%}
{{ adapter.dispatch('latest_rows')(view) }}
{%- endmacro %}

{% macro latest_rows_columns(v) -%}
{%- for k in v['keys'] %}{{ pit_col(k) }} AS {{ k | quote }}, {% endfor -%}
{{ pit_utc(pit_col(v.ts), v.ts_type) }} AS {{ v.ts | quote }}
{%- if v.created %}, {{ pit_utc(pit_col(v.created), v.created_type) }} AS {{ v.created | quote }}{% endif -%}
{%- for f in v.features %}, {{ pit_col(f) }} AS {{ f | quote }}{% endfor -%}
{%- endmacro %}

{% macro latest_rows_filter(v) -%}
{{ pit_utc(pit_col(v.ts), v.ts_type) }} >= CAST({{ v.start | literal }} AS TIMESTAMP)
  AND {{ pit_utc(pit_col(v.ts), v.ts_type) }} < CAST({{ v.end | literal }} AS TIMESTAMP)
{%- endmacro %}

{% macro latest_rows_order(v) -%}
PARTITION BY {% for k in v['keys'] %}{{ pit_col(k) }}{% if not loop.last %}, {% endif %}{% endfor %}
ORDER BY {{ pit_col(v.ts) }} DESC NULLS LAST
{%- if v.created %}, {{ pit_col(v.created) }} DESC NULLS LAST{% endif -%}
{%- endmacro %}

{#- DuckDB and Snowflake filter window results in place with QUALIFY. #}
{% macro duckdb__latest_rows(v) -%}
SELECT {{ latest_rows_columns(v) }}
FROM ({{ v.sql }}) AS "__sqlfeast_src"
WHERE {{ latest_rows_filter(v) }}
QUALIFY ROW_NUMBER() OVER ({{ latest_rows_order(v) }}) = 1
{%- endmacro %}

{% macro snowflake__latest_rows(v) -%}
{{ duckdb__latest_rows(v) }}
{%- endmacro %}

{% macro default__latest_rows(v) -%}
SELECT {{ latest_rows_columns(v) }}
FROM (
  SELECT "__sqlfeast_src".*, ROW_NUMBER() OVER ({{ latest_rows_order(v) }}) AS "__sqlfeast_rn"
  FROM ({{ v.sql }}) AS "__sqlfeast_src"
  WHERE {{ latest_rows_filter(v) }}
) AS "__sqlfeast_ranked"
WHERE "__sqlfeast_rn" = 1
{%- endmacro %}
