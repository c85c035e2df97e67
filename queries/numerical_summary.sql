-- Per numerical column {v} (DOUBLE, NaN already NULL): present, mean, std (ddof 1 and 0), min, max,
-- the quantiles listed (deciles for PSI edges on the reference, quartiles for the summary) and exact distinct count.
count({v}),
avg({v}),
stddev_samp({v}),
stddev_pop({v}),
min({v}),
max({v}),
quantile_cont({v}, {quantiles}),
count(DISTINCT {v})
