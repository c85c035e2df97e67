-- Per categorical column {v} (as text): missing count and the count of every value.
count(*) - count({v}),
histogram({v})
