select user_id as customer_id, order_date, count(*) as orders
from {{ ref('raw_orders') }}
group by user_id, order_date
