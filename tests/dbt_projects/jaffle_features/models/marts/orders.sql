with payments as (
    select order_id,
           {{ payment_columns() }},
           sum(amount) as total_amount
    from {{ ref('stg_payments') }}
    group by order_id
)
select o.order_id, o.customer_id, o.order_date, o.status,
       {% for method in var('payment_methods') %}coalesce(p.{{ method }}_amount, 0) as {{ method }}_amount,
       {% endfor %}coalesce(p.total_amount, 0) as amount
from {{ ref('stg_orders') }} o
left join payments p using (order_id)
