-- The last refinement level: every distinct value in the candidate cells with its position in the
-- cell and how often each side holds it. Cells of the grid are keyed as in exact_cells.sql; the
-- buckets off the grid are never split (key k * $cell_scale, position 0).
-- {rows}: queries/exact_rows.sql.
SELECT cell, x, any_value(pos) AS pos, count(*) - sum(side) AS r, sum(side) AS p
FROM (
    SELECT
        side,
        x,
        CASE
            WHEN k >= 0 AND k < $bucket_count THEN k * CAST($cell_scale AS BIGINT) + CAST(floor(f * $cell_scale) AS BIGINT)
            ELSE k * CAST($cell_scale AS BIGINT)
        END AS cell,
        CASE WHEN k >= 0 AND k < $bucket_count THEN f * $cell_scale - floor(f * $cell_scale) ELSE 0 END AS pos
    FROM ({rows})
)
WHERE cell IN (SELECT unnest($cells))
GROUP BY cell, x
