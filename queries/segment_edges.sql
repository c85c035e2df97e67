-- Per segment of the reference: rows and the deciles of each numerical feature over the
-- segment's own rows ($levels; linear interpolation, NaN as missing): its PSI edges.
-- {segment}: the segment expression; {quantiles}: ", quantile_cont(x, $levels) AS qN" each.
SELECT {segment} AS segment, count(*) AS n{quantiles}
FROM reference
GROUP BY segment
