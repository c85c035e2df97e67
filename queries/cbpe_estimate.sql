-- Estimated accuracy (CBPE) of the production predictions per time bucket: each row's
-- confidence through the isotonic calibrator, linear between its knots ($knot_x, $knot_y,
-- $knot_slope to the next knot) and flat outside them ($low below the first), summed per bucket
-- with sum(c * (1 - c)) for the band; rows without a finite confidence are counted apart.
-- {source}: the predictions as p (joined to inputs i when buckets are input segments);
-- {bucket}: the bucket expression (NULL for one bucket); {confidence}: as DOUBLE.
WITH knots AS (
    SELECT unnest($knot_x) AS x, unnest($knot_y) AS y, unnest($knot_slope) AS slope
), scored AS (
    SELECT {bucket} AS bucket, {confidence} AS confidence
    FROM {source}
    WHERE {where} AND {prediction} IS NOT NULL
), calibrated AS (
    SELECT s.bucket,
           CASE WHEN s.confidence IS NULL OR NOT isfinite(s.confidence) THEN NULL
                WHEN k.x IS NULL THEN $low
                ELSE k.y + k.slope * (s.confidence - k.x) END AS c
    FROM scored AS s ASOF LEFT JOIN knots AS k ON s.confidence >= k.x
)
SELECT bucket, count(c) AS n, sum(c) AS total, sum(c * (1 - c)) AS spread,
       count(*) - count(c) AS unscored
FROM calibrated
GROUP BY bucket
ORDER BY bucket NULLS FIRST
