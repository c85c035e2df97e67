-- Per numerical column {v}: counts per PSI bin (bin = number of edges <= value, -1 = missing)
-- and how many present values fall outside the reference [$lo, $hi].
histogram(CASE WHEN {v} IS NULL OR isnan({v}) THEN -1 ELSE {bin} END),
count(*) FILTER (WHERE {v} < {lo} OR {v} > {hi})
