-- Per numerical column {v} (DOUBLE, NaN already NULL): present, mean, std (ddof 1 and 0), min, max,
-- the quantiles ({quantiles}: a quantile_cont call, or NULL when they come from the exact-distance grid)
-- and exact distinct count.
count({v}),
avg({v}),
stddev_samp({v}),
stddev_pop({v}),
min({v}),
max({v}),
{quantiles},
count(DISTINCT {v})
