"""The registered model's versions, aliases and source runs, read from the MLflow registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.mlflow_calls import _not_found
from app.mlflow_runs import _ordered_columns

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

PRODUCTION_ALIASES = ("production", "prod", "champion")
"""Registry aliases (lower case) that name the version serving production."""

REGISTRY_COLUMNS = (
    "name",
    "version",
    "aliases",
    "stage",
    "status",
    "run_id",
    "run_name",
    "source",
    "created",
    "description",
)


class RegistryReading:
    """``MLflowReader.registry``: uses the reader's bounded ``call``, ``_paged``, ``config``,
    ``page_size`` and ``display_uri``."""

    def registry(self) -> pd.DataFrame:
        """Versions of the registered model with aliases, stage, source run and its metrics."""
        import pandas as pd

        name = self.config.mlflow.registered_model
        model = self.call("get registered model", lambda c: _model_info(c, name))
        if model is None:
            frame = pd.DataFrame(columns=list(REGISTRY_COLUMNS))
            frame.attrs["message"] = f"no registered model '{name}' at {self.display_uri}"
            return frame
        versions = self._paged(
            f"search versions of {name}",
            lambda c, t: c.search_model_versions(
                _versions_filter(name), max_results=self.page_size, page_token=t
            ),
        )
        by_version: dict[str, list[str]] = {}
        for alias, version in model["aliases"].items():
            by_version.setdefault(str(version), []).append(alias)
        runs = {}
        for run_id in dict.fromkeys(v.run_id for v in versions if v.run_id):
            runs[run_id] = self.call("get source run", lambda c, r=run_id: _run_or_none(c, r))
        rows = []
        for v in versions:
            run = runs.get(v.run_id)
            row = {
                "name": v.name,
                "version": int(v.version),
                "aliases": ", ".join(
                    sorted(set(by_version.get(str(v.version), [])) | set(v.aliases or []))
                ),
                "stage": v.current_stage,
                "status": v.status,
                "run_id": v.run_id,
                "run_name": run.info.run_name if run else None,
                "source": v.source,
                "created": v.creation_timestamp,
                "description": v.description or "",
            }
            if run:
                for metric, value in run.data.metrics.items():
                    row[metric if metric not in REGISTRY_COLUMNS else f"metric.{metric}"] = value
            rows.append(row)
        frame = pd.DataFrame(rows, columns=_ordered_columns(rows, REGISTRY_COLUMNS))
        frame["created"] = pd.to_datetime(frame["created"], unit="ms", utc=True)
        frame = frame.sort_values("version", ignore_index=True)
        frame.attrs["aliases"] = dict(model["aliases"])
        return frame


def _versions_filter(name: str) -> str:
    quote_char = "'" if "'" not in name else '"'
    return f"name = {quote_char}{name}{quote_char}"


def _model_info(client: MlflowClient, name: str) -> dict | None:
    try:
        model = client.get_registered_model(name)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise
    versions = client.search_model_versions(_versions_filter(name), max_results=1000)
    numbers = [int(v.version) for v in versions]
    return {
        "name": model.name,
        "versions": len(numbers),
        "latest_version": max(numbers) if numbers else None,
        "aliases": {alias: int(version) for alias, version in (model.aliases or {}).items()},
    }


def _run_or_none(client: MlflowClient, run_id: str):
    try:
        return client.get_run(run_id)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise
