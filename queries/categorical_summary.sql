-- Per categorical column {v} (as text): missing count and the count of every value.
count(*) FILTER (WHERE {v} IS NULL),
histogram({v})
