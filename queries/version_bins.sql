-- The PSI bins of each input for one model version ($model_version: mine = true) and for all the
-- others (mine = false), in one scan: numerical bins = number of edges <= x; categorical: the
-- value; missing rows counted apart. {aggregates} over the projected fN / cN.
SELECT mine, count(*) AS n{aggregates}
FROM (
    SELECT {version} = $model_version AS mine{projection}
    FROM inputs AS i JOIN predictions AS p ON i.{id} = p.{id}
    WHERE {where}
)
GROUP BY mine
