-- Rows of one column holding each of the values in $values (as text), for a side on which those
-- values are not among the most frequent: the engine lists each side's top values, and a chart of
-- the union of both lists needs every listed value's count on both sides. One grouping pass over
-- the matching rows only.
SELECT value, count(*) AS n
FROM (SELECT CAST({column} AS VARCHAR) AS value FROM {view} WHERE {where}) AS t
WHERE value IN (SELECT unnest(CAST($values AS VARCHAR[])))
GROUP BY value
