-- Per numerical column {v} (DOUBLE, NaN already NULL): present, mean, std (ddof 1 and 0), min, max,
-- quantiles (deciles for PSI edges, quartiles for the summary) and exact distinct count.
count({v}),
avg({v}),
stddev_samp({v}),
stddev_pop({v}),
min({v}),
max({v}),
quantile_cont({v}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.75]),
count(DISTINCT {v})
