-- Count of each class of a label or prediction column, missing excluded.
-- {column}: the column as text (app.engine.text).
SELECT count(*), histogram({column}) FROM {view} WHERE {where}
