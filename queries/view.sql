-- One role (reference, inputs, predictions, labels) as a view over its parquet files in place.
-- can_have_nan: files written by pyarrow carry no NaN statistics, and DuckDB would otherwise
-- assume there is no NaN and drop isnan() filters (duckdb/duckdb#25521).
-- files: quoted list of files; replace: a REPLACE clause normalising timestamp columns to UTC TIMESTAMP.
CREATE OR REPLACE VIEW {view} AS
SELECT * {replace}
FROM read_parquet({files}, union_by_name = true, hive_partitioning = {hive}, can_have_nan = true)
