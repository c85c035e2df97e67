-- Order statistics and edge counts of one side from the grid, grouping only the rows of the few
-- buckets that need it ($detail_buckets).
-- what 0: the value at each wanted position: $want_buckets, $want_offsets are pairs of a bucket k
--         and a 0-based offset among that bucket's sorted values;
-- what 1: how many values of bucket $edge_buckets[i] are at or over $edge_values[i] (at = $edge_index[i]).
-- {values}: queries/exact_values.sql for the side.
WITH grouped AS MATERIALIZED (
    SELECT k, x, count(*) AS n
    FROM ({values})
    WHERE k IN (SELECT unnest(CAST($detail_buckets AS BIGINT[])))
    GROUP BY k, x
),
running AS (
    SELECT k, x, sum(n) OVER (PARTITION BY k ORDER BY x) AS through
    FROM grouped
),
wanted AS (
    SELECT
        unnest(CAST($want_buckets AS BIGINT[])) AS k,
        unnest(CAST($want_offsets AS BIGINT[])) AS offset_in_bucket
),
edges AS (
    SELECT
        unnest(CAST($edge_buckets AS BIGINT[])) AS k,
        unnest(CAST($edge_values AS DOUBLE[])) AS edge,
        unnest(CAST($edge_index AS BIGINT[])) AS i
)
SELECT 0 AS what, wanted.k, wanted.offset_in_bucket AS at, min(running.x) AS value
FROM wanted JOIN running ON running.k = wanted.k AND running.through > wanted.offset_in_bucket
GROUP BY wanted.k, wanted.offset_in_bucket
UNION ALL
SELECT 1, edges.k, edges.i, CAST(coalesce(sum(grouped.n), 0) AS DOUBLE)
FROM edges LEFT JOIN grouped ON grouped.k = edges.k AND grouped.x >= edges.edge
GROUP BY edges.k, edges.i
