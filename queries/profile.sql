-- One scan of a view computing many per-feature aggregates at once. The inner SELECT projects
-- each numerical column once as DOUBLE with NaN turned into NULL (so every aggregate skips missing
-- values natively instead of re-testing isnan in a FILTER per aggregate), and each categorical
-- column as text; the aggregates are the fragments below; values arrive as $parameters.
SELECT count(*) AS rows{aggregates}
FROM (SELECT {projection} FROM {view} WHERE {where}) AS t
