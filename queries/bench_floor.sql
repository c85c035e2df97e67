-- The scan floor of `driftdeck bench`: one pass over every column the monitor uses, in every file.
-- {reference}, {inputs}, {predictions}: aggregates that must decode every value (sums of numbers,
-- of string lengths, of epoch microseconds), never ones parquet statistics answer (min, max, count);
-- the *_files slots are quoted file lists.
SELECT *
FROM (SELECT {reference} FROM read_parquet({reference_files}, union_by_name = true)) AS reference,
     (SELECT {inputs} FROM read_parquet({inputs_files}, union_by_name = true)) AS inputs,
     (SELECT {predictions} FROM read_parquet({predictions_files}, union_by_name = true)) AS predictions
