-- queries/exact_buckets.sql per file: per file and bucket of the reference grid, how many values
-- fall in it, the sum of their positions, its smallest and largest value and smallest position.
-- {values}: queries/exact_values.sql carrying {file} (the by-file view's file column).
SELECT {file} AS file, k, count(*) AS n, sum(f) AS f_sum, min(x) AS lo, max(x) AS hi, min(f) AS first_f
FROM ({values})
GROUP BY {file}, k
