-- DuckDB's own linear interpolation between two order statistics $lo <= $hi at fraction $d
-- (quantile_cont over exactly these two values at level $d), so quantiles located on the grid
-- round exactly as quantile_cont over the whole column would.
SELECT quantile_cont(x, $d) FROM (SELECT unnest([$lo, $hi]::DOUBLE[]) AS x)
