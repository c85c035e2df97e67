-- Production accuracy per time bucket: predictions joined with delayed labels by id.
SELECT time_bucket(CAST($width AS INTERVAL), p.{timestamp}, CAST($origin AS TIMESTAMP)) AS bucket,
       count(*) AS labelled,
       avg(CAST(CAST(p.{prediction} AS VARCHAR) = CAST(l.{target} AS VARCHAR) AS DOUBLE)) AS accuracy
FROM predictions AS p JOIN labels AS l ON p.{id} = l.{id}
WHERE {where} AND p.{timestamp} IS NOT NULL
GROUP BY bucket ORDER BY bucket
