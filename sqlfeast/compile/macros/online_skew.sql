{#
  The online skew check (sqlfeast/datatests/skew.py), with
    v = {sql, keys, ts, ts_type, created, created_type, features, end, sample, entities}
  online_skew_sample(v): up to `sample` entities with a row before `end` (the view's
  materialized end), in a stable pseudo-random order (md5 of the key).
  online_skew_rows(v): for each entity of the relation `entities` (its join keys and
  "__sqlfeast_ts", the event timestamp the online store holds), the warehouse's latest row at or
  before that timestamp, ties on the timestamp going to the latest created timestamp.
#}
{% macro online_skew_sample(v) -%}
{{ adapter.dispatch('online_skew_sample')(v) }}
{%- endmacro %}

{% macro online_skew_rows(v) -%}
{{ adapter.dispatch('online_skew_rows')(v) }}
{%- endmacro %}

{% macro default__online_skew_sample(v) -%}
SELECT {% for k in v['keys'] %}{{ pit_col(k) }} AS {{ k | quote }}{% if not loop.last %}, {% endif %}{% endfor %}
FROM ({{ v.sql }}) AS "__sqlfeast_src"
WHERE {{ pit_utc(pit_col(v.ts), v.ts_type) }} < CAST({{ v.end | literal }} AS TIMESTAMP)
GROUP BY {% for k in v['keys'] %}{{ pit_col(k) }}{% if not loop.last %}, {% endif %}{% endfor %}
ORDER BY MD5({% for k in v['keys'] %}CAST({{ pit_col(k) }} AS VARCHAR){% if not loop.last %} || '|' || {% endif %}{% endfor %})
LIMIT {{ v.sample }}
{%- endmacro %}

{% macro default__online_skew_rows(v) -%}
SELECT * FROM (
  SELECT {% for k in v['keys'] %}"__sqlfeast_src".{{ pit_col(k) }} AS {{ k | quote }}, {% endfor -%}
  {{ pit_utc('"__sqlfeast_src".' ~ pit_col(v.ts), v.ts_type) }} AS {{ v.ts | quote }}
  {%- for f in v.features %}, "__sqlfeast_src".{{ pit_col(f) }} AS {{ f | quote }}{% endfor %},
  ROW_NUMBER() OVER (
    PARTITION BY {% for k in v['keys'] %}"__sqlfeast_src".{{ pit_col(k) }}{% if not loop.last %}, {% endif %}{% endfor %}
    ORDER BY "__sqlfeast_src".{{ pit_col(v.ts) }} DESC NULLS LAST
    {%- if v.created %}, "__sqlfeast_src".{{ pit_col(v.created) }} DESC NULLS LAST{% endif %}
  ) AS "__sqlfeast_rn"
  FROM ({{ v.sql }}) AS "__sqlfeast_src"
  JOIN {{ v.entities }} AS "__sqlfeast_e"
    ON {% for k in v['keys'] %}"__sqlfeast_src".{{ pit_col(k) }} = "__sqlfeast_e".{{ k | quote }}{% if not loop.last %} AND {% endif %}{% endfor %}
  WHERE {{ pit_utc('"__sqlfeast_src".' ~ pit_col(v.ts), v.ts_type) }} <= "__sqlfeast_e"."__sqlfeast_ts"
) AS "__sqlfeast_ranked"
WHERE "__sqlfeast_rn" = 1
{%- endmacro %}
