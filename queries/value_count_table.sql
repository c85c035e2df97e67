-- Every value of one column (as text; NULL: the missing rows) of the rows in {where}, with how
-- many rows hold it: what one file (or the reference) contributes to a high-cardinality
-- feature's exact distinct count, new-value share and top values (app/value_counts.py merges).
SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n
FROM {view} WHERE {where}
GROUP BY value
