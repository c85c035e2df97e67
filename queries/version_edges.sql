-- The deciles ($levels, linear) of each numerical input over the rows the other model versions
-- served: the PSI edges of one version's inputs against the others'. {projection}: the inputs
-- i as fN; inputs are joined to their predictions p by id.
SELECT count(*) AS n{quantiles}
FROM (
    SELECT {version} AS version{projection}
    FROM inputs AS i JOIN predictions AS p ON i.{id} = p.{id}
    WHERE {where}
)
WHERE version <> $model_version
