-- Exact two-sample KS over a column's own values, not cast to DOUBLE: for integers beyond 2^53 (and
-- wide decimals), whose doubles merge neighbouring values. One row per distinct value of either
-- side; the gap at each is scipy's float formula count_ref / n_ref - count_prod / n_prod.
-- {column}: quoted identifier; {ref_view}, {prod_view}: quoted identifiers; {ref_where},
-- {prod_where}: each side's filter (quoted identifiers and $params only).
WITH r AS (
    SELECT {column} AS x, count(*) AS n FROM {ref_view}
    WHERE ({ref_where}) AND {column} IS NOT NULL GROUP BY x
),
p AS (
    SELECT {column} AS x, count(*) AS n FROM {prod_view}
    WHERE ({prod_where}) AND {column} IS NOT NULL GROUP BY x
),
u AS (
    SELECT coalesce(r.x, p.x) AS x, coalesce(r.n, 0) AS rn, coalesce(p.n, 0) AS pn
    FROM r FULL OUTER JOIN p ON r.x = p.x
),
gaps AS (
    SELECT CAST(sum(rn) OVER (ORDER BY x) AS DOUBLE) / CAST(sum(rn) OVER () AS DOUBLE)
         - CAST(sum(pn) OVER (ORDER BY x) AS DOUBLE) / CAST(sum(pn) OVER () AS DOUBLE) AS gap,
           sum(rn) OVER () AS n1, sum(pn) OVER () AS n2
    FROM u
)
SELECT min(gap), max(gap), any_value(n1), any_value(n2) FROM gaps
