{#
  Data tests of one feature view, run by sqlfeast/datatests/runner.py with
    v = {sql, ts, ts_type, tests: [{kind, column, values, min, max, inclusive, columns}]}
  data_tests_query(v): one query, one row: the row count, the latest event timestamp (naive UTC),
  then the failing count of each test in order (freshness and row_count read the first two).
  data_test_failures(v, t): a few failing rows of test t.
#}
{% macro data_tests_query(v) -%}
{{ adapter.dispatch('data_tests_query')(v) }}
{%- endmacro %}

{% macro data_test_failures(v, t, limit) -%}
{{ adapter.dispatch('data_test_failures')(v, t, limit) }}
{%- endmacro %}

{#- The condition under which a row fails a column test. #}
{% macro data_test_condition(t) -%}
{%- set c = pit_col(t.column) -%}
{%- if t.kind == 'not_null' -%}{{ c }} IS NULL
{%- elif t.kind == 'accepted_values' -%}{{ c }} IS NOT NULL AND {{ c }} NOT IN ({% for x in t['values'] %}{{ x | literal }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- elif t.kind == 'accepted_range' -%}
{%- set lt = '<' if t.inclusive else '<=' -%}{%- set gt = '>' if t.inclusive else '>=' -%}
({% if t.min is not none %}{{ c }} {{ lt }} {{ t.min | literal }}{% endif %}{% if t.min is not none and t.max is not none %} OR {% endif %}{% if t.max is not none %}{{ c }} {{ gt }} {{ t.max | literal }}{% endif %})
{%- else -%}FALSE
{%- endif -%}
{%- endmacro %}

{% macro data_test_keys(t) -%}
{%- for k in t['columns'] %}{{ pit_col(k) }}{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}

{#- unique: the number of key combinations that occur more than once. #}
{% macro data_test_duplicates(t) -%}
SELECT {{ data_test_keys(t) }}, COUNT(*) AS "__sqlfeast_n" FROM "__sqlfeast_src"
GROUP BY {{ data_test_keys(t) }} HAVING COUNT(*) > 1
{%- endmacro %}

{% macro default__data_tests_query(v) -%}
WITH "__sqlfeast_src" AS (
{{ v.sql }}
)
SELECT COUNT(*) AS "__sqlfeast_rows", MAX({{ pit_utc(pit_col(v.ts), v.ts_type) }}) AS "__sqlfeast_max_ts"
{%- for t in v.tests %},
  {% if t.kind == 'unique' -%}
  (SELECT COUNT(*) FROM ({{ data_test_duplicates(t) }}) AS "__sqlfeast_dup{{ loop.index0 }}")
  {%- elif t.kind in ('not_null', 'accepted_values', 'accepted_range') -%}
  SUM(CASE WHEN {{ data_test_condition(t) }} THEN 1 ELSE 0 END)
  {%- else -%}
  0
  {%- endif %} AS "__sqlfeast_t{{ loop.index0 }}"
{%- endfor %}
FROM "__sqlfeast_src"
{%- endmacro %}

{#- DuckDB counts with FILTER, which skips the CASE per row. #}
{% macro duckdb__data_tests_query(v) -%}
WITH "__sqlfeast_src" AS MATERIALIZED (
{{ v.sql }}
)
SELECT COUNT(*) AS "__sqlfeast_rows", MAX({{ pit_utc(pit_col(v.ts), v.ts_type) }}) AS "__sqlfeast_max_ts"
{%- for t in v.tests %},
  {% if t.kind == 'unique' -%}
  (SELECT COUNT(*) FROM ({{ data_test_duplicates(t) }}) AS "__sqlfeast_dup{{ loop.index0 }}")
  {%- elif t.kind in ('not_null', 'accepted_values', 'accepted_range') -%}
  COUNT(*) FILTER (WHERE {{ data_test_condition(t) }})
  {%- else -%}
  0
  {%- endif %} AS "__sqlfeast_t{{ loop.index0 }}"
{%- endfor %}
FROM "__sqlfeast_src"
{%- endmacro %}

{% macro default__data_test_failures(v, t, limit) -%}
WITH "__sqlfeast_src" AS (
{{ v.sql }}
)
{% if t.kind == 'unique' -%}
SELECT * FROM ({{ data_test_duplicates(t) }}) AS "__sqlfeast_dup"
ORDER BY "__sqlfeast_n" DESC LIMIT {{ limit }}
{%- else -%}
SELECT * FROM "__sqlfeast_src" WHERE {{ data_test_condition(t) }} LIMIT {{ limit }}
{%- endif %}
{%- endmacro %}
