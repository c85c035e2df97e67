-- Per segment of the production inputs (joined to their predictions by id, and to labels where
-- they exist): the predicted classes as a histogram, labelled rows and how many were right.
-- {labels}: the LEFT JOIN of the labels l, or nothing; {target}: the label as text, or NULL.
SELECT {segment} AS segment,
       histogram({prediction}) AS predicted,
       count_if({prediction} IS NOT NULL AND {target} IS NOT NULL) AS labelled,
       count_if({prediction} = {target}) AS correct
FROM inputs AS i JOIN predictions AS p ON i.{id} = p.{id} {labels}
WHERE {where}
GROUP BY segment
