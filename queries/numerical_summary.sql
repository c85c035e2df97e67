-- Per numerical column {v} (DOUBLE, NaN already NULL), named "{column}:…": present, mean, std
-- (ddof 1), std_pop ({std_pop}: stddev_pop, or NULL where it is not needed), min, max.
count({v}) AS "{column}:present",
avg({v}) AS "{column}:mean",
stddev_samp({v}) AS "{column}:std",
{std_pop} AS "{column}:std_pop",
min({v}) AS "{column}:min",
max({v}) AS "{column}:max"
