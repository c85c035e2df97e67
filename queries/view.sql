-- One role (reference, inputs, predictions, labels) as a view over its parquet files in place.
-- files: quoted list of files; replace: a REPLACE clause normalising timestamp columns to UTC TIMESTAMP.
CREATE OR REPLACE VIEW {view} AS
SELECT * {replace}
FROM read_parquet({files}, union_by_name = true, hive_partitioning = {hive})
