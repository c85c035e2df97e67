-- Per file of a by-file view ({file}: its file column): rows, oldest and newest timestamp, so a
-- window knows which files it holds whole, which it cuts and which it misses.
SELECT {file} AS file, count(*) AS rows, count({timestamp}) AS stamped, min({timestamp}) AS first, max({timestamp}) AS last
FROM {view}
WHERE {file} IN (SELECT unnest($files))
GROUP BY {file}
