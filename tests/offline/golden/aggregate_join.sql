with "__ae" as (
select
    "CUSTOMER_ID" as "__k0",
    CAST(CONVERT_TIMEZONE('UTC', "ORDERED_AT") AS TIMESTAMP_NTZ) as "__ts",
    "LOADED_AT" as "__cr",
    "AMOUNT" as "__c0",
    "STORE_ID" as "__c1"
from (
select * from SRC_ORDERS
) as "__src"
where CAST(CONVERT_TIMEZONE('UTC', "ORDERED_AT") AS TIMESTAMP_NTZ) is not null
  and "CUSTOMER_ID" is not null
  and CAST(CONVERT_TIMEZONE('UTC', "ORDERED_AT") AS TIMESTAMP_NTZ) <= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
  and CAST(CONVERT_TIMEZONE('UTC', "ORDERED_AT") AS TIMESTAMP_NTZ) >= CAST('2023-12-02 00:00:00.000000' AS TIMESTAMP_NTZ)
)
, "__aj" as (
    select e."__sqlfeast_row" as "__row", e."__sqlfeast_ts" as "__ets", f."__ts",
           case when f."__ts" is not null then 1 end as "__ev",
           row_number() over (partition by e."__sqlfeast_row" order by f."__ts" desc nulls last,
                                                               f."__cr" desc nulls last) as "__rn", f."__c0", f."__c1"
    from "__sqlfeast_entities" as e
    left join "__ae" as f
      on f."__k0" = e."customer_id" and f."__ts" <= e."__sqlfeast_ts"
     and f."__ts" >= DATEADD(second, -2592000, e."__sqlfeast_ts")
)
select "__row" as "__sqlfeast_row"
    , CAST(count(case when "__ts" >= DATEADD(second, -604800, "__ets") then "__ev" end) AS NUMBER(38,0)) as "n_7d"
    , CAST(sum(case when "__ts" >= DATEADD(second, -604800, "__ets") then "__c0" end) AS FLOAT) as "amount_sum_7d"
    , max(case when "__rn" = 1 and "__ts" >= DATEADD(second, -2592000, "__ets") then "__c0" end) as "last_amount_30d"
    , CAST(count(distinct case when "__ts" >= DATEADD(second, -2592000, "__ets") then "__c1" end) AS NUMBER(38,0)) as "stores_30d"
from "__aj"
group by "__row"
order by "__row"
