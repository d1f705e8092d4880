{#- push_source('name'): the warehouse table that rows pushed offline to a push source land in.
    A feature view unions it with its batch source so pushed rows reach historical retrieval:

      select driver_id, event_timestamp, created, conv_rate from {{ ref('driver_stats_clean') }}
      union all
      select driver_id, event_timestamp, created, conv_rate from {{ push_source('driver_stats_push') }}

    The table is "<schema>"."<project>__push__<name>"; sqlfeast creates it (typed from the push
    source's schema) at the first push and whenever `sqlfeast.offline.push.ensure_push_tables` runs.
    Override push_source (or <warehouse>__push_source) in macros/ to point elsewhere. -#}
{% macro push_source(name) -%}
{{ adapter.dispatch('push_source')(name) }}
{%- endmacro %}

{% macro default__push_source(name) -%}
{{ sqlfeast_schema | quote }}.{{ (project_name ~ '__push__' ~ name) | quote }}
{%- endmacro %}
