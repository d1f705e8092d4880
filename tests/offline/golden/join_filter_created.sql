with "__entities" as (
    select *, "__sqlfeast_ts" as "__p0", "__sqlfeast_ts" as "__pc0"
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
, "__fr0" as (
    select "__row", "__ts", "__f0"
    from (
        select e."__sqlfeast_row" as "__row", f."__ts", f."__f0",
               row_number() over (partition by e."__sqlfeast_row"
                                  order by f."__ts" desc, f."__cr" desc nulls last, f."__f0" desc nulls first) as "__rn"
        from "__entities" as e
        join "__fv0" as f
          on f."__k0" = e."driver_id" and f."__ts" <= e."__p0" and f."__ts" >= DATEADD(second, -7200, e."__sqlfeast_ts")
         and f."__cr" <= e."__pc0"
    ) as "__c"
    where "__rn" = 1
)
select
    e."__sqlfeast_row"
    , case when "__v0"."__ts" >= DATEADD(second, -7200, e."__sqlfeast_ts") then "__v0"."__f0" end as "conv_rate"
from "__entities" as e
left join "__fr0" as "__v0" on "__v0"."__row" = e."__sqlfeast_row"
order by e."__sqlfeast_row"
