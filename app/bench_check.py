"""Reading ``driftdeck bench``'s results: did the monitor compute every metric, does it agree with
pandas+scipy, and where did its time go."""

from __future__ import annotations

from collections import defaultdict

from app.bench_plan import Plan


def _metrics(feature: dict) -> dict[str, float | None]:
    """The comparable numbers of one feature in a monitor or naive report."""
    out = {
        "psi": feature.get("psi"),
        "js": feature.get("js"),
        "wasserstein": feature.get("wasserstein"),
    }
    for group in ("ks", "chi2"):
        for key, value in (feature.get(group) or {}).items():
            out[f"{group}.{key}"] = value
    for key in ("ratio", "new_value_share"):
        if feature.get("cardinality"):
            out[f"cardinality.{key}"] = feature["cardinality"].get(key)
    return {k: v for k, v in out.items() if v is not None or k in ("psi", "js")}


def check_monitor(report: dict, plan: Plan) -> list[str]:
    """Problems that would make the monitor's time meaningless: features or metrics missing."""
    problems = []
    features = report.get("features", {})
    for name, kind in plan.kinds.items():
        entry = features.get(name)
        if entry is None:
            problems.append(f"feature {name} missing from the report")
            continue
        wanted = {
            "numerical": ("psi", "ks.statistic", "ks.pvalue", "wasserstein"),
            "categorical": ("psi", "chi2.statistic"),
        }
        got = _metrics(entry)
        wanted_keys = wanted.get(kind, ("cardinality.ratio", "cardinality.new_value_share"))
        problems += [f"{name}: {key} is null" for key in wanted_keys if got.get(key) is None]
    return problems


def cross_check(monitor: dict, naive: dict) -> dict:
    """How far the monitor's numbers are from pandas+scipy on the same data."""
    worst, disagreements, compared = 0.0, [], 0
    pairs = [
        (f"{name}.{key}", value, _metrics(monitor["features"].get(name, {})).get(key))
        for name, feature in naive["features"].items()
        for key, value in _metrics(feature).items()
    ]
    drift = naive.get("prediction_drift") or {}
    pairs += [
        (f"prediction_drift.{k}", v, (monitor.get("prediction_drift") or {}).get(k))
        for k, v in drift.items()
    ]
    for label, expected, got in pairs:
        if expected is None or got is None:
            if expected != got:
                disagreements.append(f"{label}: monitor {got}, pandas+scipy {expected}")
            continue
        compared += 1
        error = abs(got - expected) / max(abs(expected), 1e-12)
        if abs(got - expected) > 1e-9 + 1e-6 * abs(expected):
            disagreements.append(f"{label}: monitor {got!r}, pandas+scipy {expected!r}")
        worst = max(worst, error if abs(got - expected) > 1e-12 else 0.0)
    return {
        "compared": compared,
        "max_relative_difference": worst,
        "disagreements": disagreements[:20],
    }


def summarise_profile(profile: dict) -> dict:
    """Query time per engine call site, largest first."""
    by_caller: dict[str, list[float]] = defaultdict(list)
    for q in profile["queries"]:
        by_caller[q["caller"]].append(q["seconds"])
    total = profile["total_seconds"]
    in_queries = sum(q["seconds"] for q in profile["queries"])
    callers = [
        {
            "caller": caller,
            "queries": len(times),
            "seconds": sum(times),
            "share": sum(times) / total if total else None,
        }
        for caller, times in by_caller.items()
    ]
    callers.sort(key=lambda c: -c["seconds"])
    slowest = sorted(profile["queries"], key=lambda q: -q["seconds"])[:10]
    return {
        "total_seconds": total,
        "import_seconds": profile["import_seconds"],
        "query_seconds": in_queries,
        "other_seconds": total - profile["import_seconds"] - in_queries,
        "by_caller": callers,
        "slowest_queries": slowest,
    }


FLOAT_SUMS = ("mean", "std", "std_pop", "wasserstein")
"""Metrics computed from float sums: equal to 1e-9 relative between runs (the order of addition
differs); every other number to 1e-12 relative (docs/metrics.md, "The store")."""


def metric_differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two monitor reports differ beyond the tolerances of ``FLOAT_SUMS`` (paths)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for key in a for d in metric_differences(a[key], b[key], f"{path}/{key}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in metric_differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        loose = any(part in FLOAT_SUMS for part in path.split("/"))
        if a == b or abs(a - b) <= (1e-9 if loose else 1e-12) * max(abs(a), abs(b)) + 1e-15:
            return []
    elif a == b:
        return []
    return [f"{path}: {a!r} vs {b!r}"]
