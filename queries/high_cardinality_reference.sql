-- One high-cardinality column of the reference: rows, missing, present and exact distinct count.
SELECT count(*), count(*) - count({column}), count({column}), count(DISTINCT {column}) FROM {view} WHERE {where}
