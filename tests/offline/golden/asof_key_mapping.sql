with "__entities" as (
    select *, "__sqlfeast_ts" as "__p0"
    from "__sqlfeast_entities"
)
, "__fv0" as (
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
, "__fa0" as (
    select "__k0", "__k1", "__ts", "__f0"
    from (
        select *, row_number() over (partition by "__k0", "__k1", "__ts"
                                     order by "__cr" desc nulls last, "__f0" desc nulls first) as "__rn"
        from "__fv0"
    ) as "__d"
    where "__rn" = 1
)
select
    e."__sqlfeast_row"
    , "__v0"."__f0" as "o__trips"
from "__entities" as e
asof join "__fa0" as "__v0"
  match_condition (e."__p0" >= "__v0"."__ts")
  on e."driver_id" = "__v0"."__k0" and e."origin" = "__v0"."__k1"
order by e."__sqlfeast_row"
