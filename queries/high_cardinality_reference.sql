-- One high-cardinality column (of the reference, or of production when there is no reference to
-- compare with) in one grouping pass: rows, missing, present, exact distinct count, and the $limit
-- most frequent values (ties broken by value).
WITH counts AS MATERIALIZED (
    SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n
    FROM {view} WHERE {where}
    GROUP BY value
)
SELECT
    coalesce(sum(n), 0),
    coalesce(sum(n) FILTER (WHERE value IS NULL), 0),
    coalesce(sum(n) FILTER (WHERE value IS NOT NULL), 0),
    count(value),
    (
        SELECT list(struct_pack(value := value, n := n) ORDER BY n DESC, value)
        FROM (SELECT value, n FROM counts WHERE value IS NOT NULL ORDER BY n DESC, value LIMIT $limit)
    )
FROM counts
