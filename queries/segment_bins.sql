-- Per segment of one side, in one scan: rows, and for each feature the counts of its PSI bins
-- (numerical: bin = number of the segment's edges <= x, NULL when missing; categorical: the
-- value as text, NULL when missing) as histograms, with the missing rows counted apart.
-- $segments and the $edges_N lists give each segment's edges; {projection} names the features
-- as fN on the side's rows r, {aggregates} the histograms and missing counts over them.
WITH edges AS (
    SELECT unnest($segments) AS segment{edge_columns}
)
SELECT r.segment, count(*) AS n{aggregates}
FROM (SELECT {segment} AS segment{projection} FROM {view} WHERE {where}) AS r
LEFT JOIN edges AS e ON r.segment = e.segment
GROUP BY r.segment
