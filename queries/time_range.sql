-- Rows and oldest/newest timestamp of a view.
SELECT count(*), min({timestamp}), max({timestamp}) FROM {view}
