-- Per numerical column {v} (DOUBLE, NaN already NULL) of production on the reference's grid:
-- present, and the sum and the sum of squares of the values' distances from {shift} (the
-- reference mean, a $parameter). The mean and std follow from them (the engine checks that the
-- shift was close enough to keep every digit, else asks avg and stddev_samp); the min, max and
-- out-of-range count come with the grid's buckets. A third of the per-value cost of avg and
-- stddev_samp, which divides once per value.
count({v}),
sum({v} - {shift}),
sum(({v} - {shift}) * ({v} - {shift}))
