-- The most frequent values of one column (high-cardinality summaries), ties broken by value.
SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n
FROM {view} WHERE {where} AND {column} IS NOT NULL
GROUP BY value ORDER BY n DESC, value LIMIT $limit
