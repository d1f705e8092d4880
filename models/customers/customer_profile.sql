/* @feature_view
entities: [customer]
timestamp: event_timestamp
created_timestamp: created
ttl: 0
description: Daily customer profile
owner: customers@example.com
tags: {team: customers}
tests:
  - unique
  - freshness: {warn_after: 30d}
features:
  current_balance: {type: double, description: Account balance in dollars}
  avg_passenger_count: double
  lifetime_trip_count: {type: bigint, tests: [not_null, {accepted_range: {min: 0}}]}
*/
select customer_id, event_timestamp, created, current_balance, avg_passenger_count,
       lifetime_trip_count
from {{ source('raw', 'customer_profile') }}
