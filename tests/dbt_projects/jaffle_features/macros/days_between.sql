{#- Whole days from one date column to another, through dbt's cross-database datediff. -#}
{% macro days_between(start_column, end_column) -%}
    {%- set parts = [] -%}
    {%- do parts.append(dbt.datediff(start_column, end_column, 'day')) -%}
    {{ return(parts | join('')) }}
{%- endmacro %}

{% macro payment_columns() -%}
    {%- for method in var('payment_methods') -%}
    sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount{{ "," if not loop.last }}
    {% endfor -%}
{%- endmacro %}
