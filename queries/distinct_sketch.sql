-- HyperLogLog registers of one column expression {column} (docs/metrics.md, summary
-- statistics): the top 16 bits of each value's hash pick one of 2^16 registers, which keeps the
-- largest rank (position of the first 1 bit) of the remaining 48 bits. Mergeable (max per
-- register); its size does not grow with the rows.
SELECT register, max(rank) AS rank
FROM (
    SELECT h >> 48 AS register,
           CASE WHEN h % 281474976710656 = 0 THEN 49
                ELSE 48 - CAST(floor(log2(CAST(h % 281474976710656 AS DOUBLE))) AS INTEGER) END AS rank
    FROM (SELECT hash({column}) AS h FROM {view} WHERE {where} AND {column} IS NOT NULL)
)
GROUP BY register
