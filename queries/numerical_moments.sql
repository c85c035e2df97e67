-- Per numerical column {v} (DOUBLE, NaN already NULL), named "{column}:…": present, and the sum
-- and the sum of squares of the values' distances from {shift} (a $parameter near the mean:
-- production's on the reference's grid take the reference mean, the rest DuckDB's avg from a
-- first scan). The mean and std follow from them to every digit when the shift is that close
-- (app/grid_summary.py checks it); on the grid this is also a third of the per-value cost of
-- avg and stddev_samp, which divides once per value.
count({v}) AS "{column}:present",
sum({v} - {shift}) AS "{column}:total",
sum(({v} - {shift}) * ({v} - {shift})) AS "{column}:squares"
