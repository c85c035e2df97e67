-- The calibration set of estimated accuracy (CBPE): labelled rows grouped by the model's
-- confidence, with how many of them the model got right.
-- {rows}: the labelled rows as p (production predictions joined to labels l, or the reference);
-- {confidence}: the confidence as DOUBLE; {prediction}, {target}: as text (app.engine.text);
-- {only}: a further predicate on the rows (one model version's), or TRUE.
SELECT confidence, count(*) AS n, sum(CAST(correct AS BIGINT)) AS correct
FROM (
    SELECT {confidence} AS confidence, {prediction} = {target} AS correct
    FROM {rows}
    WHERE {prediction} IS NOT NULL AND {target} IS NOT NULL AND {only}
)
WHERE isfinite(confidence)
GROUP BY confidence
ORDER BY confidence
