-- One high-cardinality column of production against the distinct values of the reference:
-- rows, missing, present, exact distinct count, and rows whose value never occurs in the reference.
WITH seen AS (SELECT DISTINCT CAST({column} AS VARCHAR) AS value FROM {reference}),
prod AS (SELECT CAST({column} AS VARCHAR) AS value FROM {view} WHERE {where})
SELECT
    count(*),
    count(*) FILTER (WHERE prod.value IS NULL),
    count(prod.value),
    count(DISTINCT prod.value),
    count(prod.value) FILTER (WHERE seen.value IS NULL)
FROM prod LEFT JOIN seen ON prod.value = seen.value
