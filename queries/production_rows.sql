-- A page of the most recent production inputs with their predictions (joined by id when present).
SELECT * FROM {view} WHERE {where} ORDER BY {timestamp} DESC NULLS LAST LIMIT $limit OFFSET $offset
