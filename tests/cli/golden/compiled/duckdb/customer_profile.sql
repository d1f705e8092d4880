SELECT
  customer_id AS "customer_id",
  event_timestamp AS "event_timestamp",
  created AS "created",
  current_balance AS "current_balance",
  avg_passenger_count AS "avg_passenger_count",
  lifetime_trip_count AS "lifetime_trip_count"
FROM READ_PARQUET('data/customer_profile.parquet') AS customer_profile
