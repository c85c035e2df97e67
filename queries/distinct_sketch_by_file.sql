-- queries/distinct_sketch.sql per file ({file}: the by-file view's file column): each file's
-- HyperLogLog registers, which merge into the window's by the largest rank per register.
SELECT file, register, max(rank) AS rank
FROM (
    SELECT file,
           h >> 48 AS register,
           CASE WHEN h % 281474976710656 = 0 THEN 49
                ELSE 48 - CAST(floor(log2(CAST(h % 281474976710656 AS DOUBLE))) AS INTEGER) END AS rank
    FROM (SELECT {file} AS file, hash({column}) AS h FROM {view} WHERE {where} AND {column} IS NOT NULL)
)
GROUP BY file, register
