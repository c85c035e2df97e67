-- Count of each class of a label or prediction column (as text), missing excluded.
SELECT count(*), histogram(CAST({column} AS VARCHAR)) FROM {view} WHERE {where}
