-- Per numerical column {v} (cast to DOUBLE): missing (NULL or NaN), present, mean, std (ddof 1 and 0),
-- min, max, quantiles (deciles for PSI edges, quartiles for the summary) and exact distinct count.
count(*) FILTER (WHERE {v} IS NULL OR isnan({v})),
count(*) FILTER (WHERE NOT isnan({v})),
avg({v}) FILTER (WHERE NOT isnan({v})),
stddev_samp({v}) FILTER (WHERE NOT isnan({v})),
stddev_pop({v}) FILTER (WHERE NOT isnan({v})),
min({v}) FILTER (WHERE NOT isnan({v})),
max({v}) FILTER (WHERE NOT isnan({v})),
quantile_cont({v}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.75]) FILTER (WHERE NOT isnan({v})),
count(DISTINCT {v}) FILTER (WHERE NOT isnan({v}))
