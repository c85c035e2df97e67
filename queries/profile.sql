-- One scan of a view computing many per-feature aggregates at once; the aggregates are the
-- fragments below, filled with quoted column expressions; values arrive as $parameters.
SELECT count(*) AS rows{aggregates} FROM {view} WHERE {where}
