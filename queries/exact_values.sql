-- The non-missing values x of one side as DOUBLE, placed on the reference grid: t = (x - lo) * scale
-- in bucket units; bucket k = floor(t) on the grid [0, $bucket_count), -1 below it and $bucket_count
-- above it, -2 and $bucket_count + 1 for -inf and +inf; f = the position inside the bucket, from the
-- bucket's lower edge (from the grid's edges for the buckets below and above, so that tiny
-- distances keep their precision). Every pass over both sides uses this one text, so float rounding
-- cannot place a value differently. CASE and integer arithmetic instead of least()/greatest(),
-- which cost several times more per row.
-- {column}, {view}: quoted identifiers; {where}: the side's filter (quoted identifiers and $params only).
SELECT x, k, t - (k + CAST(k < 0 AS INTEGER)) AS f
FROM (
    SELECT
        x,
        t,
        CASE
            WHEN t < 0 THEN -1 - CAST(isinf(x) AS INTEGER)
            WHEN t >= $bucket_count THEN $bucket_count + CAST(isinf(x) AS INTEGER)
            ELSE CAST(floor(t) AS INTEGER)
        END AS k
    FROM (
        SELECT x, (x - $bucket_lo) * $bucket_scale AS t
        FROM (SELECT CAST({column} AS DOUBLE) AS x FROM {view} WHERE ({where}))
        WHERE NOT isnan(x)
    )
)
