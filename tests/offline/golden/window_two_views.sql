with "__entities" as (
    select *, "__sqlfeast_ts" as "__p0", "__sqlfeast_ts" as "__p1"
    from "__sqlfeast_entities"
)
, "__fv0" as (
select
    "DRIVER_ID" as "__k0",
    "EVENT_TIMESTAMP" as "__ts",
    "CREATED" as "__cr",
    CAST("CONV_RATE" AS FLOAT) as "__f0"
from (
select * from SRC_DRIVER_STATS
) as "__src"
where "EVENT_TIMESTAMP" is not null
  and "DRIVER_ID" is not null
  and "EVENT_TIMESTAMP" <= CAST('2024-01-01 05:00:00.000000' AS TIMESTAMP_NTZ)
  and "EVENT_TIMESTAMP" >= CAST('2024-01-01 01:00:00.000000' AS TIMESTAMP_NTZ)
)
, "__fn0" as (
    select *, row_number() over (partition by "__k0"
                                 order by "__ts", "__cr" nulls first, "__f0" asc nulls last) as "__fid"
    from "__fv0"
)
, "__fu0" as (
    select "__k0", "__ts", 0 as "__kind", "__fid", CAST(NULL AS BIGINT) as "__row"
    from "__fn0"
    union all
    select e."driver_id", e."__p0", 1, CAST(NULL AS BIGINT), e."__sqlfeast_row"
    from "__entities" as e
    where e."__sqlfeast_ts" is not null
      and e."driver_id" is not null
)
, "__fp0" as (
    select "__row", "__k0", "__kind",
           max("__fid") over (partition by "__k0" order by "__ts", "__kind"
                              rows between unbounded preceding and current row) as "__fid"
    from "__fu0"
)
, "__fr0" as (
    select p."__row", f."__ts", f."__f0"
    from "__fp0" as p
    join "__fn0" as f
      on f."__fid" = p."__fid"
     and f."__k0" = p."__k0"
    where p."__kind" = 1
)
, "__fv1" as (
select
    "DRIVER_ID" as "__k0",
    "CUSTOMER_ID" as "__k1",
    "EVENT_TIMESTAMP" as "__ts",
    "CREATED" as "__cr",
    CAST("TRIPS" AS FLOAT) as "__f0"
from (
select * from SRC_TRIP_STATS
) as "__src"
where "EVENT_TIMESTAMP" is not null
  and "DRIVER_ID" is not null
  and "CUSTOMER_ID" is not null
  and "EVENT_TIMESTAMP" <= CAST('2024-01-01 05:00:00.000000' AS TIMESTAMP_NTZ)
)
, "__fn1" as (
    select *, row_number() over (partition by "__k0", "__k1"
                                 order by "__ts", "__cr" nulls first, "__f0" asc nulls last) as "__fid"
    from "__fv1"
)
, "__fu1" as (
    select "__k0", "__k1", "__ts", 0 as "__kind", "__fid", CAST(NULL AS BIGINT) as "__row"
    from "__fn1"
    union all
    select e."driver_id", e."customer_id", e."__p1", 1, CAST(NULL AS BIGINT), e."__sqlfeast_row"
    from "__entities" as e
    where e."__sqlfeast_ts" is not null
      and e."driver_id" is not null
      and e."customer_id" is not null
)
, "__fp1" as (
    select "__row", "__k0", "__k1", "__kind",
           max("__fid") over (partition by "__k0", "__k1" order by "__ts", "__kind"
                              rows between unbounded preceding and current row) as "__fid"
    from "__fu1"
)
, "__fr1" as (
    select p."__row", f."__ts", f."__f0"
    from "__fp1" as p
    join "__fn1" as f
      on f."__fid" = p."__fid"
     and f."__k0" = p."__k0"
     and f."__k1" = p."__k1"
    where p."__kind" = 1
)
select
    e."__sqlfeast_row"
    , case when "__v0"."__ts" >= DATEADD(second, -7200, e."__sqlfeast_ts") then "__v0"."__f0" end as "conv_rate"
    , "__v1"."__f0" as "trips"
from "__entities" as e
left join "__fr0" as "__v0" on "__v0"."__row" = e."__sqlfeast_row"
left join "__fr1" as "__v1" on "__v1"."__row" = e."__sqlfeast_row"
order by e."__sqlfeast_row"
