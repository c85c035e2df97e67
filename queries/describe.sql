-- Column names and DuckDB types of a view.
SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {view})
