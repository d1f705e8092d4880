/* @feature_view
entities: [driver]
timestamp: event_timestamp
created_timestamp: created
ttl: 2d
online: true
description: Hourly driver performance
owner: drivers@example.com
tags: {team: drivers}
features:
  conv_rate: {type: double, description: Share of offers accepted}
  acc_rate: double
  avg_daily_trips: bigint
*/
select driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips
from {{ ref('driver_stats_clean') }}
