-- Per numerical column {v}: how many present values are at or over each PSI edge (cumulative, so
-- each bin is a difference of two counts) and how many fall outside the reference [lo, hi].
{at_least}count_if({v} < {lo} OR {v} > {hi})
