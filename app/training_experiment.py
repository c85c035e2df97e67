"""Which experiment holds the training runs: the configured one, else the one where the registered
model's source run was logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.mlflow_registry import PRODUCTION_ALIASES, _model_info, _run_or_none, _versions_filter
from app.mlflow_runs import recognised_metrics, runs_frame

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainingExperiment:
    """The experiment whose runs are the training runs: ``note`` says why it is not the
    configured one; without one, ``message`` says why and lists the experiments there are."""

    experiment_id: str | None
    name: str | None
    note: str = ""
    message: str = ""


class TrainingRunDiscovery:
    """``MLflowReader.training_experiment`` and ``training_runs``: uses the reader's bounded
    ``call``, ``_paged``, ``_runs_of``, ``config``, ``page_size`` and ``display_uri``."""

    def training_experiment(self) -> TrainingExperiment:
        """Where the training runs are: the configured experiment while it exists and is not
        deleted, else the experiment holding the source run of the registered model's production
        version (else of its newest versions), else none, with the experiments that do exist."""
        wanted = self.config.mlflow.training_experiment
        experiment = self.call(
            f"get experiment {wanted}", lambda c: c.get_experiment_by_name(wanted)
        )
        if experiment is not None and experiment.lifecycle_stage != "deleted":
            return TrainingExperiment(experiment.experiment_id, experiment.name)
        why = (
            f"experiment '{wanted}' is deleted"
            if experiment is not None
            else f"no experiment '{wanted}'"
        )
        found = self._experiment_of_model()
        if found is not None:
            experiment, version = found
            return TrainingExperiment(
                experiment.experiment_id,
                experiment.name,
                note=f"{why}, so the training runs are read from experiment '{experiment.name}', "
                f"where the source run of {version} was logged (set [mlflow] "
                "training_experiment to choose another)",
            )
        names = sorted(
            e.name
            for e in self._paged(
                "list experiments",
                lambda c, t: c.search_experiments(max_results=self.page_size, page_token=t),
            )
        )
        existing = ", ".join(f"'{n}'" for n in names) if names else "none"
        model = self.config.mlflow.registered_model
        return TrainingExperiment(
            None,
            None,
            message=f"{why} at {self.display_uri}, and no version of registered model '{model}' "
            f"has a source run in an active experiment; experiments there: {existing} (set "
            "[mlflow] training_experiment to one of them)",
        )

    def _experiment_of_model(self, tries: int = 5) -> tuple[Any, str] | None:
        """The active experiment of the source run of the registered model's production
        version, else of its newest versions (at most ``tries`` source runs are read)."""
        name = self.config.mlflow.registered_model
        model = self.call("get registered model", lambda c: _model_info(c, name))
        if model is None:
            return None
        versions = self.call(
            f"search versions of {name}",
            lambda c: c.search_model_versions(_versions_filter(name), max_results=1000),
        )
        aliases = {str(a).lower(): int(v) for a, v in model["aliases"].items()}
        by_number = {int(v.version): v for v in versions}
        candidates: list[tuple[int, str]] = []
        for alias in PRODUCTION_ALIASES:
            if aliases.get(alias) in by_number:
                candidates.append((aliases[alias], f"v{aliases[alias]} ({alias})"))
                break
        staged = [n for n, v in by_number.items() if str(v.current_stage).lower() == "production"]
        if staged:
            candidates.append((max(staged), f"v{max(staged)} (stage Production)"))
        newest = sorted(by_number, reverse=True)
        candidates += [
            (n, f"v{n}, the newest version" if i == 0 else f"v{n}") for i, n in enumerate(newest)
        ]
        seen: set[str] = set()
        for number, label in candidates:
            run_id = by_number[number].run_id
            if not run_id or run_id in seen:
                continue
            seen.add(run_id)
            if len(seen) > tries:
                return None
            run = self.call("get source run", lambda c, r=run_id: _run_or_none(c, r))
            if run is None:
                continue
            experiment = self.call(
                "get experiment of source run",
                lambda c, e=run.info.experiment_id: c.get_experiment(e),
            )
            if experiment is not None and experiment.lifecycle_stage != "deleted":
                return experiment, f"model '{name}' {label}"
        return None

    def training_runs(self) -> pd.DataFrame:
        """The training runs (see ``runs``) of the experiment ``training_experiment`` finds;
        ``attrs``: ``metrics`` names the headline metrics, ``experiment`` the experiment used,
        ``experiment_note`` why it is not the configured one, ``message`` why there are none."""
        training = self.training_experiment()
        if training.experiment_id is None:
            frame = runs_frame([])
            frame.attrs["message"] = training.message
        else:
            frame = self._runs_of(training.experiment_id, str(training.name))
            frame.attrs["experiment"] = training.name
            if training.note:
                frame.attrs["experiment_note"] = training.note
        frame.attrs["metrics"] = recognised_metrics(frame.columns)
        return frame
