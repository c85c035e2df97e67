-- A page of the most recent production inputs with their predictions (joined by id when present).
-- {order}: the timestamp, newest first, then the id when there is one (quoted identifiers only).
SELECT * FROM {view} WHERE {where} ORDER BY {order} LIMIT $limit OFFSET $offset
