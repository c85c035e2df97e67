-- Read every column of every row of one parquet file ($1), to find the file a failed query could
-- not read when DuckDB's error does not name it (a damaged page header).
SELECT count(hash(t)) FROM read_parquet($1) AS t
