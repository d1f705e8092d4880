{% macro generate_key(fields) -%}
    {{ return(adapter.dispatch('generate_key', 'tiny_utils')(fields)) }}
{%- endmacro %}

{% macro default__generate_key(fields) -%}
    {%- set parts = [] -%}
    {%- for field in fields -%}
        {%- do parts.append("coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{% macro duckdb__generate_key(fields) -%}
    md5({{ fields | map('string') | join(" || '-' || ") }})
{%- endmacro %}

{% test positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} < 0
{% endtest %}

{% materialization passthrough, adapter='duckdb' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as {{ sql }}
    {%- endcall %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
