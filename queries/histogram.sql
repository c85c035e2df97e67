-- Equal-width histogram of one numerical column: $bins bins from $lo to $hi (values outside clamp to the ends).
SELECT least(greatest(CAST(floor((v - $lo) / $width) AS INTEGER), 0), $bins - 1) AS bin, count(*) AS n
FROM (SELECT CAST({column} AS DOUBLE) AS v FROM {view} WHERE {where}) AS t
WHERE v IS NOT NULL AND NOT isnan(v) AND isfinite(v)
GROUP BY bin ORDER BY bin
