"""One feature in the typed report: its drift between the reference and the window (PSI with its
sample-size floor, the tests for its kind, cardinality growth) and its data quality, each with the
severity judged once (``app.severity``) against the configured thresholds. ``app.report_types``
puts them together into the ``Report``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from app import severity as judgement
from app.config import Config
from app.severity import WARNING


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _known(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def rest(entry: Mapping, known: set[str]) -> dict:
    """The keys of ``entry`` a dataclass has no field for: kept, so nothing is lost."""
    return {k: v for k, v in entry.items() if k not in known}


@dataclass
class TestResult:
    """A statistical test: its statistic and p-value (KS for numerical, chi-square for
    categorical features)."""

    statistic: float | None = None
    pvalue: float | None = None

    @classmethod
    def from_dict(cls, entry: Any) -> TestResult | None:
        if not isinstance(entry, Mapping):
            return None
        return cls(entry.get("statistic"), entry.get("pvalue"))

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "pvalue": self.pvalue}


@dataclass
class Cardinality:
    """Cardinality growth of a high-cardinality feature: distinct values on each side, their
    ratio, and the share of production rows whose value the reference never saw."""

    reference: int | None = None
    production: int | None = None
    ratio: float | None = None
    new_value_share: float | None = None

    @classmethod
    def from_dict(cls, entry: Any) -> Cardinality | None:
        if not isinstance(entry, Mapping):
            return None
        return cls(*(entry.get(k) for k in ("reference", "production", "ratio", "new_value_share")))

    def as_dict(self) -> dict:
        return {
            "reference": self.reference,
            "production": self.production,
            "ratio": self.ratio,
            "new_value_share": self.new_value_share,
        }


@dataclass
class FeatureDrift:
    """One feature's drift between the reference and the window, with its severity: PSI against
    the PSI thresholds (``not significant`` under its sample-size floor), or cardinality growth
    against the cardinality-ratio thresholds for a high-cardinality feature."""

    name: str
    kind: str
    psi: float | None = None
    js: float | None = None
    ks: TestResult | None = None
    wasserstein: float | None = None
    chi2: TestResult | None = None
    cardinality: Cardinality | None = None
    psi_floor: float | None = None
    significant: bool | None = None
    """False when the PSI is under its sample-size floor (noise); None when not judged."""
    compared: bool = False
    """Whether the PSI was compared with its floor (``psi_floor`` and ``significant`` are in the
    JSON)."""
    reason: str | None = None
    summary: dict = field(default_factory=dict)
    severity: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """The measure the severity judges: the cardinality ratio or the PSI."""
        if self.kind == "high_cardinality":
            return self.cardinality.ratio if self.cardinality else None
        return self.psi

    @classmethod
    def from_dict(cls, name: str, entry: Mapping, config: Config) -> FeatureDrift:
        ks, chi2, card = entry.get("ks"), entry.get("chi2"), entry.get("cardinality")
        out = cls(
            name=name,
            kind=entry.get("kind"),
            psi=entry.get("psi"),
            js=entry.get("js"),
            ks=TestResult.from_dict(ks),
            wasserstein=entry.get("wasserstein"),
            chi2=TestResult.from_dict(chi2),
            cardinality=Cardinality.from_dict(card),
            psi_floor=entry.get("psi_floor"),
            significant=entry.get("significant"),
            compared="significant" in entry,
            reason=entry.get("reason"),
            summary=entry.get("summary") or {},
            extra=rest(entry, _known(cls) | {"kind"}),
        )
        out.severity = out.judge(config)
        return out

    def judge(self, config: Config) -> str | None:
        th = config.thresholds
        if self.kind == "high_cardinality":
            return judgement.severity(self.score, th["cardinality_ratio"])
        return judgement.psi_severity(self.psi, self.significant, th["psi"])

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "psi": self.psi, "js": self.js}
        if self.kind == "numerical":
            out["ks"] = (self.ks or TestResult()).as_dict()
            out["wasserstein"] = self.wasserstein
        elif self.kind == "categorical":
            out["chi2"] = (self.chi2 or TestResult()).as_dict()
        else:
            out["cardinality"] = (self.cardinality or Cardinality()).as_dict()
        if self.compared:
            out.update(psi_floor=self.psi_floor, significant=self.significant)
        if self.reason is not None:
            out["reason"] = self.reason
        out["summary"] = self.summary
        out.update(self.extra)
        out["severity"] = self.severity
        return out


@dataclass
class FeatureQuality:
    """Data quality of one feature: missing shares and their increase, values out of the
    reference range (numerical), categories never seen in the reference, each increase with its
    severity."""

    name: str
    kind: str
    missing_share_reference: float | None = None
    missing_share_production: float | None = None
    missing_share_increase: float | None = None
    out_of_range_share: float | None = None
    unseen_share: float | None = None
    missing_severity: str | None = None
    unseen_severity: str | None = None
    """None for a high-cardinality feature: its new values are judged by cardinality growth."""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, kind: str, entry: Mapping, config: Config) -> FeatureQuality:
        th = config.thresholds
        out = cls(
            name=name,
            kind=kind,
            **{k: entry.get(k) for k in _QUALITY_VALUES},
            extra=rest(entry, set(_QUALITY_VALUES)),
        )
        out.missing_severity = judgement.severity(
            out.missing_share_increase, th["missing_share_increase"]
        )
        if kind != "high_cardinality":
            out.unseen_severity = judgement.severity(out.unseen_share, th["unseen_share"])
        return out

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in _QUALITY_VALUES[:3]}
        if self.kind == "numerical":
            out["out_of_range_share"] = self.out_of_range_share
        else:
            out["unseen_share"] = self.unseen_share
        out.update(self.extra)
        out["missing_share_increase_severity"] = self.missing_severity
        if self.kind != "numerical":
            out["unseen_share_severity"] = self.unseen_severity
        return out


_QUALITY_VALUES = (
    "missing_share_reference",
    "missing_share_production",
    "missing_share_increase",
    "out_of_range_share",
    "unseen_share",
)


SCHEMA_SEVERITY = WARNING
"""A column on one side only, or whose type changed: a warning (its drift cannot be measured)."""


@dataclass
class DataQuality:
    """Schema differences between reference and production, and each feature's data quality."""

    schema: dict = field(default_factory=dict)
    features: dict[str, FeatureQuality] = field(default_factory=dict)

    def schema_findings(self, name: str) -> list[tuple[str, str]]:
        """The schema differences of one column as (check, finding); each is a warning
        (``SCHEMA_SEVERITY``)."""
        found = []
        if name in (self.schema.get("only_in_reference") or []):
            found.append(("Schema", "only in the reference (not in production inputs)"))
        if name in (self.schema.get("only_in_production") or []):
            found.append(("Schema", "only in production (not in the reference)"))
        for change in self.schema.get("type_changes") or []:
            if change.get("column") == name:
                found.append(
                    ("Type change", f"{change.get('reference')} → {change.get('production')}")
                )
        return found

    def schema_severity(self, name: str) -> str | None:
        """The severity of a column's schema differences (None when it has none)."""
        return SCHEMA_SEVERITY if self.schema_findings(name) else None

    def as_dict(self) -> dict:
        return {
            "schema": self.schema,
            "features": {n: q.as_dict() for n, q in self.features.items()},
        }
