-- One role (reference, inputs, predictions, labels) as a view over its parquet files in place.
-- {files}: quoted list of files; {timestamp}: the expression that normalises the timestamp column.
CREATE OR REPLACE VIEW {view} AS
SELECT * {replace}
FROM read_parquet({files}, union_by_name = true, hive_partitioning = {hive})
