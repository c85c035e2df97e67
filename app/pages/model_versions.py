"""Model versions, drawn for the Performance page: each version's production behaviour beside
its metrics in MLflow's registry, and the report's A/B tests between versions (docs/metrics.md,
"Model versions and A/B tests")."""

from __future__ import annotations

from typing import Any

from app import theme
from app.mlflow_reader import MLflowUnavailable
from app.numbers import finite_number
from app.pages import blocks
from app.pages.mlflow_sections import HEADLINE_LABELS, REGISTRY_HINT

REGISTRY_METRICS = ("accuracy", "macro_f1", "weighted_f1", "f1", "roc_auc")
"""The registry's logged metrics shown beside each version's production behaviour (at most three)."""


def version_name(name: Any) -> str:
    """A model version in words, as the A/B verdicts name it: "version 2", or the variant's name."""
    return f"version {name}" if str(name).isdigit() else str(name)


def registry_entry(registry: Any, name: str) -> Any:
    """The registry row of the version numbered ``name`` ("2" or "v2"); None when none is."""
    if registry is None or isinstance(registry, MLflowUnavailable) or not len(registry):
        return None
    number = str(name).removeprefix("v").removeprefix("V")
    for _, row in registry.iterrows():
        if str(row.get("version")) == number:
            return row
    return None


MAX_PSI_FLAGS = 4
"""Inputs flagged per version; the rest (never a significant one) are counted in one more flag."""


def psi_flags(input_psi: dict) -> str:
    """Each input's PSI against the inputs the other versions served as HTML flags: the
    significant ones first, in their severity colour, then the highest of the rest greyed (under
    their sample-size floor), up to ``MAX_PSI_FLAGS``; the others in one "+N more" flag whose
    tooltip lists them. Values are escaped."""
    if not input_psi:
        return f'<span class="dd-muted">{theme.NO_VALUE}</span>'
    ranked = sorted(
        input_psi.items(),
        key=lambda kv: (not kv[1].get("significant"), -(kv[1].get("psi") or 0.0), str(kv[0])),
    )
    significant = sum(1 for _, entry in ranked if entry.get("significant"))
    shown, rest = (
        ranked[: max(MAX_PSI_FLAGS, significant)],
        ranked[max(MAX_PSI_FLAGS, significant) :],
    )
    flags = []
    for name, entry in shown:
        psi, floor = entry.get("psi"), entry.get("psi_floor")
        if entry.get("significant"):
            color = theme.severity_color(entry.get("severity"))
            kind, title = "dd-flag", f"significant (floor {theme.format_metric(floor)})"
        else:
            color = theme.MISSING_COLOR
            kind = "dd-flag dd-insignificant"
            title = f"not significant at this sample size (floor {theme.format_metric(floor)})"
        flags.append(
            f'<span class="{kind}" style="--dd-color: {color}" title="{blocks.esc(title)}">'
            f"{blocks.esc(name)} <b>{blocks.esc(theme.format_metric(psi))}</b></span>"
        )
    if rest:
        listed = ", ".join(f"{name} {theme.format_metric(e.get('psi'))}" for name, e in rest)
        flags.append(
            f'<span class="dd-flag dd-insignificant" style="--dd-color: {theme.MISSING_COLOR}" '
            f'title="{blocks.esc("not significant: " + listed)}">+{len(rest)} more</span>'
        )
    return "".join(flags)


def versions_view(versions: dict, registry: Any) -> list:
    """One row per version: its traffic, accuracy realized and estimated, prediction KL and the
    PSI of the inputs it served, beside the aliases and metrics the registry holds for it."""
    joined = registry is not None and not isinstance(registry, MLflowUnavailable) and len(registry)
    metrics = [m for m in REGISTRY_METRICS if m in registry.columns][:3] if joined else []
    headers = [
        "Version",
        "Rows",
        "Share",
        "Accuracy",
        "Labelled",
        "Estimated accuracy",
        "Prediction KL",
        *(["Aliases (MLflow)"] if joined else []),
        *(f"{HEADLINE_LABELS[m]} (MLflow)" for m in metrics),
        "Inputs vs the other versions (PSI)",
    ]
    rows = []
    for name, entry in versions.items():
        row = registry_entry(registry, name)
        rows.append(
            [
                f'<span style="white-space: nowrap">{blocks.esc(version_name(name))}</span>',
                theme.format_count(entry.get("rows")),
                theme.format_share(entry.get("share")),
                theme.format_share(entry.get("accuracy")),
                theme.format_count(entry.get("labelled")),
                theme.format_share(entry.get("estimated_accuracy")),
                theme.format_metric(entry.get("prediction_kl")),
                (row.get("aliases") or theme.NO_VALUE)
                if row is not None
                else "not in the registry",
                *(
                    theme.format_metric(finite_number(row.get(m)) if row is not None else None)
                    for m in metrics
                ),
                psi_flags(entry.get("input_psi") or {}),
            ]
        )
    objects: list = [
        blocks.subheading("Versions in the time window"),
        blocks.html_pane(
            blocks.table(headers, rows, numeric=[1, 2, 3, 4, 5, 6], raw=[0, len(headers) - 1])
        ),
    ]
    if isinstance(registry, MLflowUnavailable):
        objects.append(
            blocks.note("The registry's metrics are not shown.", str(registry), "missing")
        )
    elif registry is not None and not len(registry):
        message = getattr(registry, "attrs", {}).get("message") or "no registered versions"
        objects.append(
            blocks.note(
                f"The registry's metrics are not shown: {message}.", REGISTRY_HINT, "missing"
            )
        )
    return objects


def _registry_aliases(row: Any) -> str:
    if row is None:
        return "not in the registry"
    return str(row.get("aliases") or theme.NO_VALUE)


def ab_tests_view(versions: dict, tests: list[dict]) -> list:
    """Each pair of versions with labels: the report's verdict, the difference of accuracy with
    its 95 % interval, and the p-value; or why there is no test."""
    objects: list = [blocks.subheading("A/B tests")]
    if not tests:
        if len(versions) < 2:
            objects.append(
                blocks.note(
                    "One version served the time window: nothing to compare.", kind="missing"
                )
            )
        else:
            objects.append(
                blocks.note(
                    "No A/B test yet.",
                    "Comparing versions needs delayed labels for the predictions of at least "
                    "two versions in the time window.",
                    "missing",
                )
            )
        return objects
    rows = []
    for test in tests:
        rows.append(
            [
                f"{version_name(test['a'])} → {version_name(test['b'])}",
                test.get("verdict") or "",
                theme.format_share(test.get("accuracy_a")),
                theme.format_share(test.get("accuracy_b")),
                _points(test.get("difference"), signed=True),
                _interval(test.get("lower"), test.get("upper")),
                _pvalue(test.get("pvalue")),
                f"{theme.format_count(test.get('n_a'))} / {theme.format_count(test.get('n_b'))}",
            ]
        )
    objects.append(
        blocks.html_pane(
            blocks.table(
                [
                    "A → B",
                    "Verdict",
                    "Accuracy A",
                    "Accuracy B",
                    "Difference B − A",
                    "95 % interval",
                    "p-value",
                    "Labelled A / B",
                ],
                rows,
                numeric=[2, 3, 4, 5, 6, 7],
            )
        )
    )
    return objects


def _pvalue(value: Any) -> str:
    """A p-value as the verdicts write it (two significant digits: ``4.6e-10``, ``0.31``)."""
    return f"{value:.2g}" if theme.is_number(value) else theme.NO_VALUE


def _interval(lower: Any, upper: Any) -> str:
    """A 95 % interval of a difference of accuracies: ``4.3 to 8.3 points``."""
    if not (theme.is_number(lower) and theme.is_number(upper)):
        return theme.NO_VALUE
    return f"{lower * 100:.1f} to {upper * 100:.1f} points"


def _points(value: Any, signed: bool = False) -> str:
    """A difference of two accuracies in percentage points: ``+6.3 points``."""
    if not theme.is_number(value):
        return theme.NO_VALUE
    return f"{value * 100:{'+' if signed else ''}.1f} points"
