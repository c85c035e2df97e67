-- Per bucket of the reference grid: how many values of one side fall in it and the sum of their
-- positions inside it. {values}: queries/exact_values.sql for that side.
SELECT k, count(*) AS n, sum(f) AS f_sum
FROM ({values})
GROUP BY k
