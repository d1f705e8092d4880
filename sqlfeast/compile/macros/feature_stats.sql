{#
  Feature statistics for the catalog (sqlfeast/catalog/stats.py), two scans of a view:
    v = {sql, ts, ts_type, features: [{name, family}], hist: [{name, kind, lo, width, bins}]}
  feature_stats_query(v): one row: rows, the latest event timestamp (naive UTC), then for each
  feature: non-null count, min, max, mean (NULL where the type has none), approximate distinct count.
  feature_histogram_query(v): per histogram one grouping set: (bin or value, count) rows; exactly
  one of the bin columns is set on each row.
#}
{% macro feature_stats_query(v) -%}
{{ adapter.dispatch('feature_stats_query')(v) }}
{%- endmacro %}

{% macro feature_histogram_query(v) -%}
{{ adapter.dispatch('feature_histogram_query')(v) }}
{%- endmacro %}

{% macro approx_distinct(expr) -%}{{ adapter.dispatch('approx_distinct')(expr) }}{%- endmacro %}
{% macro default__approx_distinct(expr) -%}COUNT(DISTINCT {{ expr }}){%- endmacro %}
{% macro duckdb__approx_distinct(expr) -%}APPROX_COUNT_DISTINCT({{ expr }}){%- endmacro %}
{% macro snowflake__approx_distinct(expr) -%}APPROX_COUNT_DISTINCT({{ expr }}){%- endmacro %}

{% macro default__feature_stats_query(v) -%}
WITH "__sqlfeast_src" AS (
{{ v.sql }}
)
SELECT COUNT(*), MAX({{ pit_utc(pit_col(v.ts), v.ts_type) }})
{%- for f in v.features %}{% set c = pit_col(f.name) %},
  COUNT({{ c }}),
  {% if f.family in ('integer', 'float') -%}
  MIN({{ c }}), MAX({{ c }}), AVG(CAST({{ c }} AS DOUBLE)),
  {%- elif f.family in ('timestamp', 'date', 'string') -%}
  MIN({{ c }}), MAX({{ c }}), NULL,
  {%- elif f.family == 'boolean' -%}
  NULL, NULL, AVG(CASE WHEN {{ c }} THEN 1.0 WHEN NOT {{ c }} THEN 0.0 END),
  {%- else -%}
  NULL, NULL, NULL,
  {%- endif %}
  {% if f.family in ('array', 'bytes') %}NULL{% else %}{{ approx_distinct(c) }}{% endif %}
{%- endfor %}
FROM "__sqlfeast_src"
{%- endmacro %}

{% macro feature_bin(h) -%}
{%- set c = pit_col(h.name) -%}
{%- if h.kind == 'numeric' -%}
LEAST(CAST(FLOOR((CAST({{ c }} AS DOUBLE) - {{ h.lo | literal }}) / {{ h.width | literal }}) AS BIGINT), {{ h.bins - 1 }})
{%- else -%}
CAST({{ c }} AS VARCHAR)
{%- endif -%}
{%- endmacro %}

{% macro default__feature_histogram_query(v) -%}
WITH "__sqlfeast_src" AS (
{{ v.sql }}
)
SELECT {% for h in v.hist %}"__sqlfeast_b{{ loop.index0 }}", {% endfor %}COUNT(*)
FROM (
  SELECT {% for h in v.hist %}{{ feature_bin(h) }} AS "__sqlfeast_b{{ loop.index0 }}"{% if not loop.last %}, {% endif %}{% endfor %}
  FROM "__sqlfeast_src"
) AS "__sqlfeast_bins"
GROUP BY GROUPING SETS ({% for h in v.hist %}("__sqlfeast_b{{ loop.index0 }}"){% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
