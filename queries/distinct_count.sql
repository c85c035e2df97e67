-- The exact distinct count of one column expression {column} (quoted identifiers only) in a view.
SELECT count(DISTINCT {column}) FROM {view} WHERE {where}
