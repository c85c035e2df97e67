-- One refinement level: the candidate cells (key k * $cell_scale + floor(f * $cell_scale), grid
-- buckets only) split into sub-cells at $sub_scale, each with both sides' counts and sums of
-- positions inside the sub-cell, and whether it holds a single distinct value (at first_pos).
-- Scales are powers of two, so f * scale and its fractional part are exact. Plain sums split by
-- side cost less than FILTER aggregates over the sparse chunks left by the bucket filter.
-- {rows}: queries/exact_rows.sql.
SELECT
    sub,
    count(*) - sum(side) AS r,
    sum(side) AS p,
    sum(pos) - sum(pos * side) AS r_pos,
    sum(pos * side) AS p_pos,
    min(x) = max(x) AS single,
    min(pos) AS first_pos
FROM (
    SELECT
        side,
        x,
        k * CAST($cell_scale AS BIGINT) + CAST(floor(f * $cell_scale) AS BIGINT) AS cell,
        k * CAST($sub_scale AS BIGINT) + CAST(floor(f * $sub_scale) AS BIGINT) AS sub,
        f * $sub_scale - floor(f * $sub_scale) AS pos
    FROM ({rows})
)
WHERE cell IN (SELECT unnest($cells))
GROUP BY sub
