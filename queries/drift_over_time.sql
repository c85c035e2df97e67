-- Per time bucket of width $width: rows and the per-feature bin counts ({aggregates}).
SELECT time_bucket(CAST($width AS INTERVAL), {timestamp}, CAST($origin AS TIMESTAMP)) AS bucket, count(*) AS rows{aggregates}
FROM {view} WHERE {where} AND {timestamp} IS NOT NULL
GROUP BY bucket ORDER BY bucket
