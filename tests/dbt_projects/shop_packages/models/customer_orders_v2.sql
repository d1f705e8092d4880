select user_id as customer_id, order_date, count(*) as orders,
       count(*) filter (where status = 'completed') as completed_orders
from {{ ref('raw_orders') }}
group by user_id, order_date
