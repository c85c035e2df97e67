-- Rows per value of a segment column on one side. {value}: the column as text with missing
-- values as '(missing)'; {view}, {where}: the side's view and window predicate.
SELECT {value} AS value, count(*) AS n
FROM {view}
WHERE {where}
GROUP BY value
ORDER BY n DESC, value
