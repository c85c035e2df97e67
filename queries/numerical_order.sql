-- Per numerical column {v} (DOUBLE, NaN already NULL), named "{column}:…", what needs the whole
-- column in memory: the quantiles listed in {quantiles} and the exact distinct count.
quantile_cont({v}, {quantiles}) AS "{column}:quantiles",
count(DISTINCT {v}) AS "{column}:distinct"
