/* @feature_view
entities: [customer]
timestamp: event_timestamp
features:
  orders_v1: bigint
  first_name: varchar
*/
select o.customer_id,
       cast(o.order_date as timestamp) as event_timestamp,
       o.orders as orders_v1,
       c.first_name
from {{ ref('customer_orders', v=1) }} o
join {{ ref('raw_customers') }} c on c.id = o.customer_id
{% if is_incremental() %} where false {% endif %}
