-- Rows each model version served per time bucket of the window.
SELECT time_bucket(CAST($width AS INTERVAL), p.{timestamp}, CAST($origin AS TIMESTAMP)) AS bucket,
       {version} AS version,
       count(*) AS n
FROM predictions AS p
WHERE {where} AND p.{timestamp} IS NOT NULL
GROUP BY bucket, version
ORDER BY bucket, version
