WITH "demo__driver_stats_clean" AS (
  /* A plain model: feature views ref() it. Drops rows without a driver. */
  SELECT
    driver_id AS "driver_id",
    event_timestamp AS "event_timestamp",
    created AS "created",
    conv_rate AS "conv_rate",
    acc_rate AS "acc_rate",
    avg_daily_trips AS "avg_daily_trips"
  FROM READ_PARQUET('data/driver_stats.parquet') AS driver_stats
  WHERE
    NOT driver_id IS NULL AND avg_daily_trips >= 0
)
SELECT
  driver_id AS "driver_id",
  event_timestamp AS "event_timestamp",
  created AS "created",
  conv_rate AS "conv_rate",
  avg_daily_trips AS "avg_daily_trips"
FROM "demo__driver_stats_clean"
