-- Rows and newest timestamp of a view (timestamp part optional).
SELECT count(*) AS rows, {newest} AS newest FROM {view}
