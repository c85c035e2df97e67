-- DuckDB's own linear interpolation between pairs of order statistics $lo[i] <= $hi[i] at
-- fraction $d{i} (quantile_cont over exactly these two values), so quantiles located on the grid
-- round exactly as quantile_cont over the whole column would. One query for every pair:
-- {aggregates} holds one interpolation fragment per pair i (queries/interpolate_pair.sql).
SELECT {aggregates}
FROM (
    SELECT unnest(CAST($pair AS BIGINT[])) AS i, unnest(CAST($x AS DOUBLE[])) AS x
)
