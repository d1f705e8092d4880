/* @feature_view
entities: [customer]
timestamp: event_timestamp
ttl: 30d
description: Orders and spend of a customer on each day they ordered
features:
  orders_that_day: bigint
  spend_that_day: double
*/
select customer_id,
       cast(order_date as timestamp) as event_timestamp,
       count(*) as orders_that_day,
       cast(sum(amount) as double) as spend_that_day
from {{ ref('orders') }}
where status <> 'returned'
group by customer_id, order_date
