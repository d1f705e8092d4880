-- A plain model: feature views ref() it. Drops rows without a driver.
select driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips
from {{ source('raw', 'driver_stats') }}
where driver_id is not null
  and avg_daily_trips >= {{ var('min_trips') }}
