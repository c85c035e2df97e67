-- Per numerical column {v} (DOUBLE, NaN already NULL): present, mean, std (ddof 1 and 0), min, max.
count({v}),
avg({v}),
stddev_samp({v}),
stddev_pop({v}),
min({v}),
max({v})
