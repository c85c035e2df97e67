-- Spark has no ASOF join: each scored row finds its knot (the last with x <= confidence; the
-- knots come sorted by x) by counting the knots at or below its confidence.
-- Spark SQL with DuckDB quoting for the shared slots ("name", $name); see app/spark_backend.py.
WITH scored AS (
    SELECT {bucket} AS bucket, {confidence} AS confidence
    FROM {source}
    WHERE {where} AND {prediction} IS NOT NULL
), located AS (
    SELECT bucket, confidence, size(filter($knot_x, v -> v <= confidence)) AS j
    FROM scored
), calibrated AS (
    SELECT bucket,
           CASE WHEN confidence IS NULL OR NOT isfinite(confidence) THEN NULL
                WHEN j = 0 THEN $low
                ELSE element_at($knot_y, j) + element_at($knot_slope, j) * (confidence - element_at($knot_x, j)) END AS c
    FROM located
)
SELECT bucket, count(c) AS n, sum(c) AS total, sum(c * (1 - c)) AS spread,
       count(*) - count(c) AS unscored
FROM calibrated
GROUP BY bucket
ORDER BY bucket NULLS FIRST
