-- Order statistics of one side from the grid: the value at each wanted position inside a bucket.
-- $want_buckets, $want_offsets: bucket k and 0-based offset among that bucket's sorted values
-- (pairs, same length). Only the rows of those few buckets are grouped, never the whole column.
-- {values}: queries/exact_values.sql for the side.
WITH grouped AS (
    SELECT k, x, count(*) AS n
    FROM ({values})
    WHERE k IN (SELECT unnest($want_buckets))
    GROUP BY k, x
),
running AS (
    SELECT k, x, sum(n) OVER (PARTITION BY k ORDER BY x) AS through
    FROM grouped
),
wanted AS (
    SELECT unnest($want_buckets) AS k, unnest($want_offsets) AS offset_in_bucket
)
SELECT wanted.k, wanted.offset_in_bucket, min(running.x)
FROM wanted JOIN running ON running.k = wanted.k AND running.through > wanted.offset_in_bucket
GROUP BY wanted.k, wanted.offset_in_bucket
