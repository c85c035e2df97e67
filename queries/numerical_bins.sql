-- Per numerical column {v}, named "{column}:…": how many present values are at or over each PSI
-- edge ({at_least}: "{column}:edge_<j>", cumulative, so each bin is a difference of two counts)
-- and how many fall outside the reference [lo, hi] ("{column}:outside").
{at_least}count_if({v} < {lo} OR {v} > {hi}) AS "{column}:outside"
