-- One high-cardinality column of production in one grouping pass: rows, missing, present, exact
-- distinct count, rows whose value never occurs in the reference, and the $limit most frequent
-- values (ties broken by value). Only the per-value counts are joined to the reference's values.
WITH counts AS MATERIALIZED (
    SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n
    FROM {view} WHERE {where}
    GROUP BY value
),
seen AS (SELECT DISTINCT CAST({column} AS VARCHAR) AS value FROM {reference})
SELECT
    coalesce(sum(counts.n), 0),
    coalesce(sum(counts.n) FILTER (WHERE counts.value IS NULL), 0),
    coalesce(sum(counts.n) FILTER (WHERE counts.value IS NOT NULL), 0),
    count(counts.value),
    coalesce(sum(counts.n) FILTER (WHERE counts.value IS NOT NULL AND seen.value IS NULL), 0),
    (
        SELECT list(struct_pack(value := value, n := n) ORDER BY n DESC, value)
        FROM (SELECT value, n FROM counts WHERE value IS NOT NULL ORDER BY n DESC, value LIMIT $limit)
    )
FROM counts LEFT JOIN seen ON counts.value = seen.value
