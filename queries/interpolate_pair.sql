-- Pair {i} of queries/interpolate.sql: quantile_cont at the fraction $d{i} over its two values.
quantile_cont(x, $d{i}) FILTER (WHERE i = {i})
