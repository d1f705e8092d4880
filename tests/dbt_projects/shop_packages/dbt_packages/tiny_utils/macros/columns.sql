{#- The columns of a relation but some, as the warehouse reports them: dbt only (introspection). -#}
{% macro columns_except(relation, except=[]) -%}
    {{ return(adapter.dispatch('columns_except', 'tiny_utils')(relation, except)) }}
{%- endmacro %}

{% macro default__columns_except(relation, except) -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) if column.name | lower not in except -%}
        {%- do names.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
    {{ return(names | join(', ')) }}
{%- endmacro %}
