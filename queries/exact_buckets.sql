-- Per bucket of the reference grid: how many values of one side fall in it, the sum of their
-- positions inside it, its smallest and largest value and smallest position (equal smallest and
-- largest values: the bucket holds one distinct value, at that position).
-- {values}: queries/exact_values.sql for that side.
SELECT k, count(*) AS n, sum(f) AS f_sum, min(x) AS lo, max(x) AS hi, min(f) AS first_f
FROM ({values})
GROUP BY k
