-- Per model version of the predictions in the window: rows, predicted classes, and (joined to
-- delayed labels where they exist) labelled rows and how many the version got right.
-- {version}: the version as text; {labels}: the LEFT JOIN of labels l, or nothing; {target}:
-- the label as text, or NULL.
SELECT {version} AS version,
       count(*) AS n,
       histogram({prediction}) AS predicted,
       count_if({prediction} IS NOT NULL AND {target} IS NOT NULL) AS labelled,
       count_if({prediction} = {target}) AS correct
FROM predictions AS p {labels}
WHERE {where}
GROUP BY version
ORDER BY n DESC, version
