-- Production accuracy per time bucket: predictions joined with delayed labels by id.
-- {prediction}, {target}: the columns as text (app.engine.text), of tables p and l.
SELECT time_bucket(CAST($width AS INTERVAL), p.{timestamp}, CAST($origin AS TIMESTAMP)) AS bucket,
       count_if({prediction} IS NOT NULL AND {target} IS NOT NULL) AS labelled,
       avg(CAST({prediction} = {target} AS DOUBLE)) AS accuracy
FROM predictions AS p JOIN labels AS l ON p.{id} = l.{id}
WHERE {where} AND p.{timestamp} IS NOT NULL
GROUP BY bucket ORDER BY bucket
