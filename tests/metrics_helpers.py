"""Prometheus metrics as tests read them: parsed with prometheus_client, and expected from
``monitor --json`` independently of ``app.prometheus``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def expected_samples(report: dict) -> dict[tuple[str, tuple], float]:
    """What the metrics must say, read from ``monitor --json`` independently of app.prometheus."""
    out = {}

    def put(name, labels, value):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[(name, tuple(sorted(labels.items())))] = float(value)

    for name, f in report["features"].items():
        labels = {"feature": name}
        put("driftdeck_feature_psi", labels, f["psi"])
        put("driftdeck_feature_js", labels, f["js"])
        put("driftdeck_feature_ks_statistic", labels, (f.get("ks") or {}).get("statistic"))
        put("driftdeck_feature_missing_share", labels, f["summary"]["production"]["missing_share"])
        put("driftdeck_cardinality_ratio", labels, (f.get("cardinality") or {}).get("ratio"))
        put(
            "driftdeck_new_value_share", labels, (f.get("cardinality") or {}).get("new_value_share")
        )
    put("driftdeck_prediction_kl", {}, report["prediction_drift"]["kl"])
    put("driftdeck_dataset_drift_share", {}, report["dataset_drift"]["share"])
    for severity in ("critical", "warning"):
        put(
            "driftdeck_alerts",
            {"severity": severity},
            sum(a["severity"] == severity for a in report["alerts"]),
        )
    for role, rows in report["rows"].items():
        put("driftdeck_rows", {"role": role}, rows)
    put("driftdeck_accuracy", {}, report["accuracy"]["realized"])
    put("driftdeck_estimated_accuracy", {}, report["estimated_performance"]["accuracy"])
    return out
