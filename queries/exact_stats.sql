-- Size, finite range, population spread and number of infinities of one side's non-missing values.
-- {column}, {view}: quoted identifiers; {where}: the side's filter (quoted identifiers and $params only).
SELECT
    count(*) AS n,
    min(x) FILTER (WHERE isfinite(x)) AS minimum,
    max(x) FILTER (WHERE isfinite(x)) AS maximum,
    stddev_pop(x) FILTER (WHERE isfinite(x)) AS std,
    count(*) FILTER (WHERE isinf(x)) AS infinite
FROM (SELECT CAST({column} AS DOUBLE) AS x FROM {view} WHERE ({where}))
WHERE NOT isnan(x)
