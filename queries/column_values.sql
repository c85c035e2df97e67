-- The non-missing values of one column as DOUBLE (NaN left out, ±inf kept), as
-- queries/exact_values.sql reads them: one file's values, to be sorted and kept
-- (app/bucket_values.py). {column}, {view}: quoted identifiers; {where}: the rows.
SELECT x FROM (SELECT CAST({column} AS DOUBLE) AS x FROM {view} WHERE ({where})) WHERE NOT isnan(x)
