-- queries/profile.sql per file: one scan of a by-file view computing many per-feature aggregates
-- at once for each file ({file}: the view's file column), so that each file's partial aggregates
-- can be kept and merged (app/partials.py).
SELECT {file} AS file, count(*) AS rows{aggregates}
FROM (SELECT {file}, {projection} FROM {view} WHERE {where}) AS t
GROUP BY {file}
