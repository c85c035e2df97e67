-- Both sides' values in some buckets of the grid (side 0: reference, 1: production), for refinement.
-- {ref_values}, {prod_values}: queries/exact_values.sql for each side; $buckets: bucket numbers.
SELECT 0 AS side, x, k, f FROM ({ref_values}) WHERE k IN (SELECT unnest($buckets))
UNION ALL
SELECT 1 AS side, x, k, f FROM ({prod_values}) WHERE k IN (SELECT unnest($buckets))
