/* @feature_view
entities: [customer]
timestamp: event_timestamp
features:
  orders: bigint
  completed_orders: bigint
  order_key: varchar
*/
select customer_id,
       cast(order_date as timestamp) as event_timestamp,
       orders,
       completed_orders,
       {{ tiny_utils.generate_key(['customer_id', 'order_date']) }} as order_key
from {{ ref('customer_orders', v=2) }}
