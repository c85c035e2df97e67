-- Per numerical column {v} (DOUBLE, NaN already NULL): present, mean, std (ddof 1), {std_pop}
-- (stddev_pop, or NULL where it is not needed), min, max.
count({v}),
avg({v}),
stddev_samp({v}),
{std_pop},
min({v}),
max({v})
