/* @feature_view
entities: [driver]
timestamp: event_timestamp
created_timestamp: created        # orders ties for `last`
granularity: 1h                   # tile size online
online: true                      # served from tiles, combined at request time
description: Windowed driver activity, as of each request time
aggregations:
  stats_rows_1d:     {function: count, window: 1d}
  trips_sum_1d:      {function: sum, column: avg_daily_trips, window: 1d}
  conv_avg_7d:       {function: avg, column: conv_rate, window: 7d}
  conv_max_1d:       {function: max, column: conv_rate, window: 1d}
  conv_min_7d:       {function: min, column: conv_rate, window: 7d}
  conv_std_7d:       {function: stddev, column: conv_rate, window: 7d}
  last_conv_6h:      {function: last, column: conv_rate, window: 6h}
  trip_levels_7d:    {function: count_distinct, column: avg_daily_trips, window: 7d}
*/
select driver_id, event_timestamp, created, conv_rate, avg_daily_trips
from {{ ref('driver_stats_clean') }}
