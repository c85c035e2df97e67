-- One production role as a view over its parquet files, with the file each row came from in the
-- column {file_column_name} (a string literal): per-file partial aggregates (app/partials.py) filter on it, and DuckDB
-- then reads that one file only. Otherwise the same as queries/view.sql (the union of the files'
-- columns, timestamps normalised, NaN kept).
CREATE OR REPLACE VIEW {view} AS
SELECT * {replace}
FROM read_parquet({files}, union_by_name = true, hive_partitioning = {hive}, can_have_nan = true, filename = {file_column_name})
