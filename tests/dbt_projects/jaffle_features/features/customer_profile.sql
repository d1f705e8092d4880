/* @feature_view
entities: [customer]
timestamp: event_timestamp
description: Lifetime summary of a customer, as of their latest order
features:
  number_of_orders: bigint
  customer_lifetime_value: double
  active_days: bigint
*/
select customer_id,
       cast(most_recent_order as timestamp) as event_timestamp,
       number_of_orders,
       cast(customer_lifetime_value as double) as customer_lifetime_value,
       cast({{ days_between('first_order', 'most_recent_order') }} as bigint) as active_days
from {{ ref('customers') }}
where most_recent_order is not null
