-- Per numerical column {v} (DOUBLE, NaN already NULL), what needs the whole column in memory:
-- the quantiles listed in {quantiles} and the exact distinct count.
quantile_cont({v}, {quantiles}),
count(DISTINCT {v})
