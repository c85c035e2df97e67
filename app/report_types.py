"""The typed report: dataclasses for what ``driftdeck monitor`` found (feature drift, prediction
drift, dataset drift, data quality, alerts, system status), each carrying its severity and
significance, judged once here (``app.severity``) against the configured thresholds.

``Report.from_dict`` types the dict ``app.report.full_report`` builds; ``as_dict`` / ``to_json``
give back the JSON of ``driftdeck monitor --json`` (README), unchanged apart from added keys (the
severities). Renderers (pages, CLI, export, MLflow logging, Prometheus) read attributes; none
compares a value with a threshold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from app import severity as judgement
from app.config import Config
from app.feature_drift import (
    DataQuality,
    FeatureDrift,
    FeatureQuality,
    is_number,
    rest,
)
from app.report_json import to_json
from app.severity import CRITICAL, OK, WARNING


@dataclass
class PredictionDrift:
    """The predicted classes' drift: KL and Jensen–Shannon of the reference's class shares
    against production's, with the KL's severity."""

    kl: float | None = None
    js: float | None = None
    reference: dict | None = None
    production: dict | None = None
    reference_column: str | None = None
    compared: bool = False
    severity: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, entry: Mapping, config: Config) -> PredictionDrift:
        known = {"kl", "js", "reference", "production", "reference_column"}
        out = cls(
            **{k: entry.get(k) for k in known},
            compared="reference_column" in entry,
            extra=rest(entry, known),
        )
        out.severity = judgement.severity(out.kl, config.thresholds["prediction_kl"])
        return out

    def as_dict(self) -> dict:
        out: dict[str, Any] = {
            "kl": self.kl,
            "js": self.js,
            "reference": self.reference,
            "production": self.production,
        }
        if self.compared:
            out["reference_column"] = self.reference_column
        out.update(self.extra)
        out["severity"] = self.severity
        return out


@dataclass
class DatasetDrift:
    """The share of judged features that drifted (a significant PSI at or over the critical
    level) and whether the dataset drifted, with its severity: critical when it did, warning
    when some feature drifted, ok when none did."""

    share: float | None = None
    drifted: bool | None = None
    drifted_features: int = 0
    judged_features: int = 0
    psi_threshold: float | None = None
    share_threshold: float | None = None
    severity: str | None = None

    @classmethod
    def from_dict(cls, entry: Mapping) -> DatasetDrift:
        out = cls(**{k: entry[k] for k in _DATASET_KEYS if k in entry})
        out.severity = judgement.dataset_drift_severity(
            out.drifted, out.drifted_features, out.judged_features
        )
        return out

    def as_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in _DATASET_KEYS}, "severity": self.severity}


_DATASET_KEYS = (
    "share",
    "drifted",
    "drifted_features",
    "judged_features",
    "psi_threshold",
    "share_threshold",
)


@dataclass
class Alert:
    """A finding at or over a configured level: its severity, the metric and feature, the value
    and the threshold it reached, what it means and what to do; ``silenced`` (until, reason)
    when a silence mutes it."""

    severity: str
    metric: str
    feature: str | None = None
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    recommendation: str | None = None
    silenced: dict | None = None

    @property
    def key(self) -> str:
        """The alert's identity across runs (``alerts.alert_key``)."""
        return f"{self.metric}:{self.feature}"

    @classmethod
    def from_dict(cls, entry: Mapping) -> Alert:
        return cls(**{f.name: entry.get(f.name) for f in fields(cls) if f.name in entry})

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.silenced is None:
            del out["silenced"]
        return out


@dataclass
class Status:
    """One component of the system status: ``ok`` and a message (``details``: what else the
    check found, such as a file's location, rows and newest timestamp)."""

    component: str
    ok: bool
    message: str = ""
    details: dict = field(default_factory=dict)
    order: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The JSON keys in the order the check wrote them."""

    @classmethod
    def from_dict(cls, entry: Mapping) -> Status:
        return cls(
            component=entry.get("component"),
            ok=entry.get("ok"),
            message=entry.get("message", ""),
            details=rest(entry, {"component", "ok", "message"}),
            order=tuple(entry),
        )

    def as_dict(self) -> dict:
        everything = {
            "component": self.component,
            "ok": self.ok,
            "message": self.message,
            **self.details,
        }
        out = {k: everything[k] for k in self.order if k in everything}
        out.update((k, v) for k, v in everything.items() if k not in out)
        return out


def _judged_psi(entry: Mapping, config: Config) -> dict:
    """A PSI entry (segment, attribution, model version input) with its severity added."""
    found = judgement.psi_severity(
        entry.get("psi"), entry.get("significant"), config.thresholds["psi"]
    )
    return {**entry, "severity": found}


def _judged_segments(segments: Mapping, config: Config) -> dict:
    return {
        column: {
            value: {
                **entry,
                "features": {
                    name: _judged_psi(psi, config)
                    for name, psi in (entry.get("features") or {}).items()
                },
            }
            for value, entry in values.items()
        }
        for column, values in segments.items()
    }


def _judged_versions(versions: Mapping, config: Config) -> dict:
    return {
        version: {
            **entry,
            "input_psi": {
                name: _judged_psi(psi, config)
                for name, psi in (entry.get("input_psi") or {}).items()
            },
        }
        if isinstance(entry, Mapping) and "input_psi" in entry
        else entry
        for version, entry in versions.items()
    }


TYPED = (
    "features",
    "prediction_drift",
    "dataset_drift",
    "data_quality",
    "status",
    "segments",
    "mix_shift",
    "drift_attribution",
    "versions",
    "alerts",
    "silenced",
    "retraining_recommended",
)
"""The report's keys that ``Report`` holds in typed (or judged) fields; the others (window, rows,
columns, accuracy, estimated performance, A/B tests ...) are kept as they are in ``sections``."""


@dataclass
class Report:
    """Everything ``driftdeck monitor`` found for one window, judged: what every renderer reads.

    Reading it like the JSON (``report["features"]``) gives the JSON's values (``as_dict``), for
    scripts and tests; renderers read the attributes.
    """

    features: dict[str, FeatureDrift] = field(default_factory=dict)
    prediction_drift: PredictionDrift = field(default_factory=PredictionDrift)
    dataset_drift: DatasetDrift = field(default_factory=DatasetDrift)
    data_quality: DataQuality = field(default_factory=DataQuality)
    status: list[Status] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    """Active alerts, most severe first."""
    silenced: list[Alert] = field(default_factory=list)
    retraining_recommended: bool | None = None
    segments: dict = field(default_factory=dict)
    """Per segment column and value: rows, shares, and each feature's PSI with its severity."""
    mix_shift: dict = field(default_factory=dict)
    """PSI of each segment column itself (how much the mix of its segments changed)."""
    mix_shift_severity: dict = field(default_factory=dict)
    drift_attribution: dict = field(default_factory=dict)
    """Per feature: the segments its drift came from, each PSI with its severity."""
    versions: dict = field(default_factory=dict)
    """Per model version: traffic, accuracy, and each input's PSI with its severity."""
    sections: dict = field(default_factory=dict)
    """The other keys of the JSON as they are: window, generated_at, rows, columns, accuracy,
    estimated_performance, attribution_verdicts, ab_tests, version_traffic ..."""
    order: tuple[str, ...] = ()
    """The JSON's top-level keys in the order ``full_report`` made them."""

    @classmethod
    def from_dict(cls, report: Mapping, config: Config) -> Report:
        """The typed, judged report from ``full_report``'s dict (which it does not change)."""
        features = {
            name: FeatureDrift.from_dict(name, entry, config)
            for name, entry in (report.get("features") or {}).items()
        }
        quality = report.get("data_quality") or {}
        kinds = {name: f.kind for name, f in features.items()}
        mix_shift = dict(report.get("mix_shift") or {})
        level = config.thresholds["psi"]
        return cls(
            features=features,
            prediction_drift=PredictionDrift.from_dict(
                report.get("prediction_drift") or {}, config
            ),
            dataset_drift=DatasetDrift.from_dict(report.get("dataset_drift") or {}),
            data_quality=DataQuality(
                schema=quality.get("schema") or {},
                features={
                    name: FeatureQuality.from_dict(name, kinds.get(name), entry, config)
                    for name, entry in (quality.get("features") or {}).items()
                },
            ),
            status=[Status.from_dict(s) for s in report.get("status") or []],
            alerts=[Alert.from_dict(a) for a in report.get("alerts") or []],
            silenced=[Alert.from_dict(a) for a in report.get("silenced") or []],
            retraining_recommended=report.get("retraining_recommended"),
            segments=_judged_segments(report.get("segments") or {}, config),
            mix_shift=mix_shift,
            mix_shift_severity={c: judgement.severity(p, level) for c, p in mix_shift.items()},
            drift_attribution={
                name: [_judged_psi(e, config) for e in entries]
                for name, entries in (report.get("drift_attribution") or {}).items()
            },
            versions=_judged_versions(report.get("versions") or {}, config),
            sections={k: v for k, v in report.items() if k not in TYPED},
            order=tuple(report),
        )

    # -- what renderers read besides the typed sections -----------------------------------
    @property
    def window(self) -> dict:
        return self.sections.get("window") or {}

    @property
    def rows(self) -> dict:
        return self.sections.get("rows") or {}

    @property
    def columns(self) -> dict:
        return self.sections.get("columns") or {}

    @property
    def accuracy(self) -> dict:
        return self.sections.get("accuracy") or {}

    @property
    def estimated_performance(self) -> dict:
        return self.sections.get("estimated_performance") or {}

    @property
    def attribution_verdicts(self) -> dict:
        return self.sections.get("attribution_verdicts") or {}

    @property
    def critical_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity == "critical"]

    def accuracy_severity(self, feature: str | None = None) -> str | None:
        """How the accuracy stands: the worst active accuracy-drop alert on ``feature``
        ("accuracy": realized, "estimated_accuracy": CBPE; None: either), ``ok`` when its drop
        below the baseline was measured without an alert, None when it could not be."""
        alerts = [
            a for a in self.alerts if a.metric == "accuracy_drop" and feature in (None, a.feature)
        ]
        for level in (CRITICAL, WARNING):
            if any(a.severity == level for a in alerts):
                return level
        keys = {"accuracy": ("drop",), "estimated_accuracy": ("estimated_drop",)}
        measured = any(
            is_number(self.accuracy.get(key))
            for key in keys.get(feature, ("drop", "estimated_drop"))
        )
        return OK if measured else None

    # -- serialising -----------------------------------------------------------------------
    def as_dict(self) -> dict:
        """The report as the JSON's dict (``driftdeck monitor --json``, README)."""
        typed: dict[str, Any] = {
            "features": {n: f.as_dict() for n, f in self.features.items()},
            "prediction_drift": self.prediction_drift.as_dict(),
            "dataset_drift": self.dataset_drift.as_dict(),
            "data_quality": self.data_quality.as_dict(),
            "status": [s.as_dict() for s in self.status],
            "segments": self.segments,
            "mix_shift": self.mix_shift,
            "drift_attribution": self.drift_attribution,
            "versions": self.versions,
            "alerts": [a.as_dict() for a in self.alerts],
            "silenced": [a.as_dict() for a in self.silenced],
            "retraining_recommended": self.retraining_recommended,
        }
        everything = {**self.sections, **typed}
        out = {k: everything[k] for k in self.order if k in everything}
        # A section the report was made without (a backfill's report has no segments) is left
        # out rather than shown empty.
        out.update(
            (k, v) for k, v in everything.items() if k not in out and v not in (None, {}, [])
        )
        if self.mix_shift or "mix_shift" in self.order:
            out["mix_shift_severity"] = self.mix_shift_severity
        return out

    def to_json(self) -> str:
        """The report as strict JSON (NaN and inf as null)."""
        return to_json(self.as_dict())

    # -- read like the JSON --------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()


def judged_over_time(over_time: Mapping, config: Config) -> dict:
    """Drift over time (``Engine.drift_over_time``) with each bucket's PSI severity added
    (``severity``: per feature, one per bucket), judged as the report judges a feature's PSI."""
    level = config.thresholds["psi"]
    significant = over_time.get("significant") or {}
    return {
        **over_time,
        "severity": {
            name: [
                judgement.psi_severity(psi, s, level)
                for psi, s in zip(
                    values, significant.get(name) or [None] * len(values), strict=False
                )
            ]
            for name, values in (over_time.get("features") or {}).items()
        },
    }


def as_report(report: Report | Mapping, config: Config | None = None) -> Report:
    """``report`` typed: a ``Report`` as it is, the JSON's dict (a logged or hand-made report)
    judged under ``config``'s thresholds (the defaults without one)."""
    if isinstance(report, Report):
        return report
    return Report.from_dict(report, config or Config())
