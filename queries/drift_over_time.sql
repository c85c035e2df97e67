-- Per time bucket of width $width: rows and the per-feature bin counts (aggregates over the
-- projected columns, as in profile.sql).
SELECT time_bucket(CAST($width AS INTERVAL), ts, CAST($origin AS TIMESTAMP)) AS bucket, count(*) AS rows{aggregates}
FROM (SELECT {timestamp} AS ts{projection} FROM {view} WHERE {where} AND {timestamp} IS NOT NULL) AS t
GROUP BY bucket ORDER BY bucket
