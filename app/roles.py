"""Column roles (README, Data contract): which column is the timestamp, id, target, prediction, and each feature's kind."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.config import Config
from app.sources import TIMESTAMP_NAMES, Sources
from queries import ident, render

ID_NAMES = ("request_id", "prediction_id", "id", "event_id", "row_id", "uuid")
TARGET_NAMES = ("target", "label", "y", "ground_truth", "actual", "price_category", "class")
PREDICTION_NAMES = (
    "prediction",
    "predicted",
    "pred",
    "y_pred",
    "predicted_label",
    "predicted_class",
)
_NUMERIC = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*)$"
)
MODEL_VERSION_NAMES = ("model_version", "variant")
PROBABILITY_NAMES = ("probability", "confidence", "prediction_probability", "predicted_probability")
NULL_TYPE = '"NULL"'
_CATEGORICAL = re.compile(r"^(VARCHAR|BOOLEAN|ENUM.*|UUID)$")
# A string column is an identifier-like feature (address, user id) when it has at least this
# many distinct values and they make up at least this share of its rows.
HIGH_CARDINALITY_DISTINCT = 100
HIGH_CARDINALITY_SHARE = 0.2


def type_family(duckdb_type: str | None) -> str | None:
    """'numeric', 'categorical' or None (unsupported: lists, structs, dates...)."""
    if duckdb_type is None:
        return None
    if _NUMERIC.match(duckdb_type):
        return "numeric"
    if _CATEGORICAL.match(duckdb_type):
        return "categorical"
    return None


@dataclass(frozen=True)
class Feature:
    """One model input compared between reference and production."""

    name: str
    kind: str  # numerical | categorical | high_cardinality
    reference_type: str | None
    production_type: str | None

    @property
    def on_both_sides(self) -> bool:
        return self.reference_type is not None and self.production_type is not None

    @property
    def type_changed(self) -> bool:
        # An all-null column (DuckDB type "NULL") fits any type: it only has missing values.
        if not self.on_both_sides or NULL_TYPE in (self.reference_type, self.production_type):
            return False
        return type_family(self.reference_type) != type_family(self.production_type)


@dataclass(frozen=True)
class Roles:
    """Resolved column roles for the current data version."""

    timestamp: dict[str, str | None]  # role → timestamp column in that role's view
    id: str | None
    target: str | None
    prediction: str | None
    features: tuple[Feature, ...]
    ignored: tuple[str, ...]
    # The predictions' confidence in the predicted class: one column, or (class, column) pairs.
    probability: str | None = None
    probabilities: tuple[tuple[str, str], ...] = ()
    model_version: str | None = None

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


def _pick(
    configured: str | None, candidates: tuple[str, ...], columns: dict[str, str]
) -> str | None:
    if configured:
        return configured if configured in columns else None
    lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lower:
            return lower[name]
    return None


def _timestamp(configured: str | None, columns: dict[str, str]) -> str | None:
    if configured:
        return configured if configured in columns else None
    found = _pick(None, TIMESTAMP_NAMES, columns)
    if found:
        return found
    return next((c for c, t in columns.items() if t == "TIMESTAMP"), None)


def infer_roles(sources: Sources, config: Config) -> Roles:
    """Infer roles from the views' schemas, with the config's choices taking precedence."""
    cols = config.columns
    ref, inp = sources.schema("reference"), sources.schema("inputs")
    pred, lab = sources.schema("predictions"), sources.schema("labels")
    timestamp = {
        role: _timestamp(cols.timestamp, sources.schema(role))
        for role in ("inputs", "predictions", "labels")
    }
    timestamp["reference"] = _timestamp(cols.timestamp, ref)
    id_col = (
        cols.id
        if cols.id
        else _pick(None, ID_NAMES, {c: t for c, t in inp.items() if c in pred} or inp)
    )
    target = _pick(cols.target, TARGET_NAMES, ref) or _pick(cols.target, TARGET_NAMES, lab)
    prediction = _pick(cols.prediction, PREDICTION_NAMES, pred) or _pick(
        cols.prediction, PREDICTION_NAMES, inp
    )

    probability = None
    probabilities = tuple((k, c) for k, c in cols.probabilities if c in pred)
    if len(probabilities) < len(cols.probabilities):
        probabilities = ()  # a class without its column cannot give every row's confidence
    elif not probabilities:
        found = _pick(cols.probability, PROBABILITY_NAMES, pred)
        probability = found if type_family(pred.get(found)) == "numeric" else None

    model_version = _pick(cols.model_version, MODEL_VERSION_NAMES, pred)

    reserved = {c for c in (id_col, target, prediction, *timestamp.values()) if c}
    reserved.update(c for c in (probability, model_version, *(c for _, c in probabilities)) if c)
    reserved.update(cols.ignored)
    # Request ids are never model inputs, even on a side where they cannot join anything.
    listed = set(cols.numerical + cols.categorical + cols.high_cardinality)
    reserved.update(c for c in (*inp, *ref) if c.lower() in ID_NAMES and c not in listed)
    names = [c for c in inp if c not in reserved] + [
        c for c in ref if c not in reserved and c not in inp
    ]
    ignored = list(cols.ignored)
    # Prediction-side extras (probabilities, model version) are not model inputs.
    candidates = []
    for name in names:
        ref_type, prod_type = ref.get(name), inp.get(name)
        family = type_family(ref_type) or type_family(prod_type)
        if name in cols.numerical:
            kind = "numerical"
        elif name in cols.high_cardinality:
            kind = "high_cardinality"
        elif name in cols.categorical:
            kind = "categorical"
        elif family == "numeric" and (ref_type or prod_type) != "BOOLEAN":
            kind = "numerical"
        elif family == "categorical":
            kind = "categorical"
        else:
            ignored.append(name)
            continue
        candidates.append(Feature(name, kind, ref_type, prod_type))
    features = _detect_high_cardinality(sources, candidates, explicit=bool(cols.high_cardinality))
    return Roles(
        timestamp,
        id_col,
        target,
        prediction,
        tuple(features),
        tuple(ignored),
        probability,
        probabilities,
        model_version,
    )


def _detect_high_cardinality(
    sources: Sources, features: list[Feature], explicit: bool
) -> list[Feature]:
    """Mark identifier-like string columns high-cardinality unless the config lists them itself."""
    if explicit:
        return features
    strings = [f for f in features if f.kind == "categorical" and f.reference_type == "VARCHAR"]
    if not strings:
        return features
    parts = ", ".join(f"count(DISTINCT {ident(f.name)}), count({ident(f.name)})" for f in strings)
    row = sources.fetchall(render("distinct_counts", parts=parts, view=ident("reference")))[0]
    high = set()
    for i, f in enumerate(strings):
        distinct, present = row[2 * i], row[2 * i + 1]
        if distinct >= HIGH_CARDINALITY_DISTINCT and distinct >= HIGH_CARDINALITY_SHARE * present:
            high.add(f.name)
    return [
        Feature(f.name, "high_cardinality", f.reference_type, f.production_type)
        if f.name in high
        else f
        for f in features
    ]
