{#
  latest_rows(view): the first row of each entity in the one total order of point_in_time_join
  (latest timestamp, then latest created timestamp with a missing one last, then every feature in
  declared order, greater first, NULL above every value) among rows whose timestamp is in
  [start, end). Called from sqlfeast/offline/materialize.py with
    view = {sql, keys: [..], ts, ts_type, created, created_type, features: [..], feature_types,
            start, end}
  where sql is the view's compiled SELECT, feature_types maps a feature to its declared type as
  the warehouse spells it, and start/end are timestamp text already in the column's terms (for a
  DATE column the first day at or after the instant), compared with the stored column. The result
  has the join keys, the timestamp (as naive UTC), the created timestamp (if any) and the
  features (cast to their declared types), under their own (lower-case) names. Uses pit_col /
  pit_utc / pit_literal / pit_cast from point_in_time_join.sql.
#}
{% macro latest_rows(view) -%}
{{ adapter.dispatch('latest_rows')(view) }}
{%- endmacro %}

{% macro latest_rows_columns(v) -%}
{%- for k in v['keys'] %}{{ pit_col(k) }} AS {{ k | quote }}, {% endfor -%}
{{ pit_utc(pit_col(v.ts), v.ts_type) }} AS {{ v.ts | quote }}
{%- if v.created %}, {{ pit_utc(pit_col(v.created), v.created_type) }} AS {{ v.created | quote }}{% endif -%}
{%- for f in v.features %}, {{ pit_cast(pit_col(f), (v.feature_types or {}).get(f)) }} AS {{ f | quote }}{% endfor -%}
{%- endmacro %}

{% macro latest_rows_filter(v) -%}
{{ pit_col(v.ts) }} >= {{ pit_literal(v.start, v.ts_type) }}
  AND {{ pit_col(v.ts) }} < {{ pit_literal(v.end, v.ts_type) }}
{%- endmacro %}

{% macro latest_rows_order(v) -%}
PARTITION BY {% for k in v['keys'] %}{{ pit_col(k) }}{% if not loop.last %}, {% endif %}{% endfor %}
ORDER BY {{ pit_col(v.ts) }} DESC NULLS LAST
{%- if v.created %}, {{ pit_col(v.created) }} DESC NULLS LAST{% endif -%}
{%- for f in v.features %}, {{ pit_col(f) }} DESC NULLS FIRST{% endfor -%}
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
