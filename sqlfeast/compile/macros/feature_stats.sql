{#
  Feature statistics for the catalog (sqlfeast/catalog/stats.py):
    v = {sql, ts, ts_type, sample, features: [{name, family}], hist: [{name, kind, lo, width, bins}]}
  feature_stats_query(v): one row: rows, the latest event timestamp (naive UTC), then for each
  feature: non-null count, min, max, mean (NULL where the type has none), approximate distinct count.
  DuckDB adds, in the same single evaluation of the view, a uniform sample of about v.sample rows
  (every row when the view has no more): one list of values per feature, then the number of
  sampled rows; the histograms are counted from it and no second scan is needed.
  feature_histogram_query(v) (the other warehouses: a second scan, exact): per histogram one
  grouping set: (bin or value, count) rows; exactly one of the bin columns is set on each row.
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
{{ feature_stats_select(v) }}
{%- endmacro %}

{#- DuckDB: the view is evaluated once (materialized in memory), aggregated whole, and sampled
    (Bernoulli, about v.sample rows; every row when it has no more). #}
{% macro duckdb__feature_stats_query(v) -%}
WITH "__sqlfeast_src" AS MATERIALIZED (
{{ v.sql }}
), "__sqlfeast_stats" AS (
{{ feature_stats_select(v) }}
), "__sqlfeast_sample" AS (
  SELECT {% for f in v.features %}LIST({{ pit_col(f.name) }}) AS "__sqlfeast_l{{ loop.index0 }}", {% endfor %}COUNT(*) AS "__sqlfeast_n"
  FROM (SELECT *, random() AS "__sqlfeast_r" FROM "__sqlfeast_src") AS "__sqlfeast_s",
       (SELECT COUNT(*) AS "__sqlfeast_rows" FROM "__sqlfeast_src") AS "__sqlfeast_c"
  {#- random() is drawn per row in the projection above: written in this filter, DuckDB would
      push it to the one-row side and draw it once. #}
  WHERE "__sqlfeast_rows" <= {{ v.sample | int }} OR "__sqlfeast_r" < {{ v.sample | int }} / "__sqlfeast_rows"
)
SELECT * FROM "__sqlfeast_stats", "__sqlfeast_sample"
{%- endmacro %}

{% macro feature_stats_select(v) -%}
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

