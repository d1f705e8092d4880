{#- sqlfeast run: one view per model. Override create_view (or <warehouse>__create_view) in macros/. -#}
{% macro create_view(relation, sql) -%}
{{ adapter.dispatch('create_view')(relation, sql) }}
{%- endmacro %}

{% macro default__create_view(relation, sql) -%}
create or replace view {{ relation }} as
{{ sql }}
{%- endmacro %}
