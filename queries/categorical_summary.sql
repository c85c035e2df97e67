-- Per categorical column {v} (as text), named "{column}:…": missing count and the count of every
-- value.
count(*) - count({v}) AS "{column}:missing",
histogram({v}) AS "{column}:counts"
