"""The demo's model: scikit-learn classifiers trained over MLflow runs, the best one registered
as ``production`` and a retrain of it on recent labelled listings as ``staging``."""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from app.progress import Progress, quiet

EXPERIMENT = "training"
REGISTERED_MODEL = "HousingPriceClassifier"
RETRAINED = "retrained on recent labelled listings"  # ends the challenger's run name
PREDICT_BATCH_ROWS = 1 << 17  # one-hot columns are dense: predict in slices to bound memory
# skops (MLflow's safe format) loads only allow-listed types: these are the ones our pipelines hold.
SKOPS_TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


@dataclass(frozen=True)
class Candidate:
    """One training run: an estimator family and its hyper-parameters."""

    run_name: str
    model_type: str
    params: dict[str, Any] = field(default_factory=dict)
    log_numerical: bool = False  # log1p the numbers before scaling

    def estimator(self) -> ClassifierMixin:
        kind = {
            "logistic_regression": LogisticRegression,
            "random_forest": RandomForestClassifier,
            "hist_gradient_boosting": HistGradientBoostingClassifier,
        }[self.model_type]
        return kind(**self.params)


# In the order they were tried; the last ones are the newest runs.
CANDIDATES = (
    Candidate("baseline-logreg", "logistic_regression", {"C": 1.0, "max_iter": 1000}),
    Candidate(
        "forest-shallow",
        "random_forest",
        {"n_estimators": 50, "max_depth": 8, "random_state": 0, "n_jobs": 1},
    ),
    Candidate(
        "forest-deep",
        "random_forest",
        {
            "n_estimators": 80,
            "max_depth": 14,
            "min_samples_leaf": 3,
            "random_state": 0,
            "n_jobs": 1,
        },
    ),
    Candidate(
        "boosting",
        "hist_gradient_boosting",
        {
            "learning_rate": 0.1,
            "max_iter": 80,
            "max_depth": 4,
            "early_stopping": False,
            "random_state": 0,
        },
    ),
    Candidate(
        "boosting-shallow",
        "hist_gradient_boosting",
        {
            "learning_rate": 0.2,
            "max_iter": 40,
            "max_depth": 3,
            "l2_regularization": 1.0,
            "early_stopping": False,
            "random_state": 0,
        },
    ),
    # Prices grow with the logarithm of the area: the linear model on log features fits best.
    Candidate(
        "logreg-log-features",
        "logistic_regression",
        {"C": 1.0, "max_iter": 1000},
        log_numerical=True,
    ),
    Candidate(
        "logreg-log-features-l2",
        "logistic_regression",
        {"C": 0.02, "max_iter": 1000},
        log_numerical=True,
    ),
)


@dataclass(frozen=True)
class TrainedRun:
    """A finished training run and what it scored on the held-out set."""

    candidate: Candidate
    run_id: str
    model_uri: str
    model_id: str | None
    metrics: dict[str, float]
    pipeline: Pipeline


@dataclass(frozen=True)
class ServedModel:
    """A registered model version as production serves it."""

    version: str  # the registry's version number, as MLflow spells it ("2")
    model: Pipeline


def pipeline(
    candidate: Candidate, numerical: tuple[str, ...], categorical: tuple[str, ...]
) -> Pipeline:
    """Impute, scale and one-hot encode the features (other columns, e.g. address, are dropped)."""
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("log", FunctionTransformer(np.log1p if candidate.log_numerical else None)),
            ("scale", StandardScaler()),
        ]
    )
    # A missing category is a category of its own. Production brings categories the model
    # never saw (a new district): those encode as all zeros.
    categories = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    features = ColumnTransformer(
        [("numerical", numeric, list(numerical)), ("categorical", categories, list(categorical))],
        remainder="drop",
    )
    return Pipeline([("features", features), ("classifier", candidate.estimator())])


def model_input(table: pa.Table, numerical: tuple[str, ...]) -> pd.DataFrame:
    """The model's input frame: numbers as float64 (ints may be missing), categories as strings."""
    frame = table.to_pandas()
    for name in numerical:
        frame[name] = frame[name].astype("float64")
    return frame


def predict(model: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class and its probability for every row, in bounded-memory slices."""
    classes = np.asarray(model.classes_)
    labels, probabilities = [], []
    for start in range(0, len(frame), PREDICT_BATCH_ROWS):
        proba = model.predict_proba(frame.iloc[start : start + PREDICT_BATCH_ROWS])
        best = proba.argmax(axis=1)
        labels.append(classes[best])
        probabilities.append(proba[np.arange(len(best)), best])
    if not labels:
        return np.array([], dtype=object), np.array([], dtype=float)
    return np.concatenate(labels), np.concatenate(probabilities)


def scores(
    y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray, classes: tuple[str, ...], order
) -> dict:
    """Accuracy, F1 averages, per-class precision/recall/F1 and one-vs-rest ROC AUC."""
    metrics = {
        "accuracy": accuracy_score(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "weighted_f1": f1_score(y_true, y_pred, average="weighted", zero_division=0),
        "roc_auc": roc_auc_score(y_true, proba, multi_class="ovr", labels=list(order)),
    }
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    for i, name in enumerate(classes):
        metrics[f"precision_{name}"] = precision[i]
        metrics[f"recall_{name}"] = recall[i]
        metrics[f"f1_{name}"] = f1[i]
    return {key: round(float(value), 6) for key, value in metrics.items()}


@contextmanager
def quiet_mlflow(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``tracking_uri`` and silence its logs; restore both afterwards."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env_keys = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
        "MLFLOW_SQLALCHEMYSTORE_POOLCLASS",
    )
    saved_env = {key: os.environ.get(key) for key in env_keys}
    saved_uri = tracking_utils._tracking_uri
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    saved_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    # MLflow caches one engine per URI for the life of the process: keep no file open behind it.
    os.environ["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] = "NullPool"
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)


def _import_mlflow():
    """``mlflow`` with the modules the demo uses, imported without MLflow's own import noise."""
    with warnings.catch_warnings():
        # MLflow 3 warns about type hints of its own response classes while importing pyfunc.
        warnings.filterwarnings(
            "ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning
        )
        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch of a naive UTC datetime (MLflow's time unit)."""
    return round((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


_migrated_store: bytes | None = (
    None  # an empty store, so that only a process's first build migrates
)


def create_store(path: Path) -> str:
    """Create an empty MLflow store (SQLite) at ``path``, a new file, and return its URI."""
    global _migrated_store
    uri = f"sqlite:///{path}"
    if _migrated_store is not None:
        path.write_bytes(_migrated_store)
        return uri
    mlflow = _import_mlflow()
    with quiet_mlflow(uri):
        mlflow.MlflowClient(tracking_uri=uri)  # creates the tables, running every migration
    with closing(sqlite3.connect(path)) as connection:
        _migrated_store = connection.serialize()
    return uri


def train_and_register(
    tracking_uri: str,
    artifact_location: Path,
    train: pd.DataFrame,
    test: pd.DataFrame,
    recent: pd.DataFrame,
    *,
    target: str,
    numerical: tuple[str, ...],
    categorical: tuple[str, ...],
    classes: tuple[str, ...],
    trained_at: datetime,
    retrained_at: datetime,
    recent_source: str,
    progress: Progress = quiet,
) -> dict[str, ServedModel]:
    """Train every candidate in its own run, register the best as ``production``, retrain it on
    ``recent`` labelled listings too and register that as ``staging``; return both by alias.

    ``tracking_uri`` must name a new store (``create_store``): MLflow caches stores by URI, so
    a rebuilt store needs a URI of its own (see ``app.demo.build_demo``). Run start times are
    back-dated to ``trained_at`` (naive UTC) and the hours before it; the retrain starts at
    ``retrained_at``. ``recent_source`` says in words where ``recent`` comes from.
    """
    mlflow = _import_mlflow()
    runs: list[TrainedRun] = []
    columns = {"target": target, "numerical": numerical, "categorical": categorical}
    with quiet_mlflow(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment_id = client.create_experiment(
            EXPERIMENT,
            artifact_location=artifact_location.resolve().as_uri(),
            tags={"mlflow.note.content": "Housing price category classifiers (Driftdeck demo)."},
        )
        for i, candidate in enumerate(CANDIDATES):
            started = trained_at - timedelta(hours=6 * (len(CANDIDATES) - 1 - i))
            run = _training_run(
                client, experiment_id, candidate, started, train, test, classes=classes, **columns
            )
            runs.append(run)
            accuracy = run.metrics["accuracy"]
            progress(
                f"training run {i + 1}/{len(CANDIDATES)} {candidate.run_name}: accuracy {accuracy:.3f}"
            )
        best = max(runs, key=lambda r: (r.metrics["accuracy"], r.metrics["macro_f1"]))
        # The production model, refitted on what it learned from and on listings production has
        # seen since, with their true labels: the challenger. It is scored on the same held-out
        # rows as every other run, so the registry's accuracies stay comparable.
        retrain = _training_run(
            client,
            experiment_id,
            replace(best.candidate, run_name=f"{best.candidate.run_name} {RETRAINED}"),
            retrained_at,
            pd.concat([train, recent], ignore_index=True),
            test,
            classes=classes,
            note=(
                f"{best.candidate.model_type} retrained on {len(train)} listings of the stable "
                f"market and {len(recent)} {recent_source}"
            ),
            extra_params={"recent_rows": len(recent), "retrained_from": best.run_id},
            **columns,
        )
        progress(
            f"training run {retrain.candidate.run_name}: accuracy {retrain.metrics['accuracy']:.3f}"
        )
        _register(client, runs, best, retrain, progress)
        return {alias: load_model(client, alias) for alias in ("production", "staging")}


def _training_run(
    client,
    experiment_id: str,
    candidate: Candidate,
    started: datetime,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    numerical: tuple[str, ...],
    categorical: tuple[str, ...],
    classes: tuple[str, ...],
    note: str | None = None,
    extra_params: dict[str, Any] | None = None,
) -> TrainedRun:
    """Fit one candidate, score it on the held-out rows and log it all as one MLflow run."""
    mlflow = _import_mlflow()
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.models import infer_signature

    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    model = pipeline(candidate, numerical, categorical)
    clock = time.perf_counter()
    # A few thousand rows gain nothing from threads, and OpenMP threads slow to a crawl when
    # the machine is busy (CI runs tests in parallel).
    with threadpool_limits(limits=1):
        model.fit(x_train, train[target])
    fit_seconds = time.perf_counter() - clock
    proba = model.predict_proba(x_test)
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    metrics = scores(test[target], predicted, proba, classes, model.classes_)
    metrics["training_seconds"] = round(fit_seconds, 3)
    params = {
        "model_type": candidate.model_type,
        "training_rows": len(train),
        "test_rows": len(test),
        "features": ",".join(numerical + categorical),
        "log_numerical": candidate.log_numerical,
        **candidate.params,
        **(extra_params or {}),
    }

    run_id = client.create_run(
        experiment_id,
        start_time=_ms(started),
        run_name=candidate.run_name,
        tags={"model_type": candidate.model_type, "mlflow.source.name": "driftdeck demo"},
    ).info.run_id
    note = note or f"{candidate.model_type} on {len(train)} listings"
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, _ms(started) + 1000, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("mlflow.note.content", note)],
    )
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_test.head(200), predicted[:200]),
            pip_requirements=_requirements(),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    ended = started + timedelta(seconds=max(fit_seconds, 1.0) + 20)
    client.set_terminated(run_id, status="FINISHED", end_time=_ms(ended))
    return TrainedRun(candidate, run_id, info.model_uri, info.model_id, metrics, model)


def _register(
    client, runs: list[TrainedRun], best: TrainedRun, retrain: TrainedRun, progress: Progress
) -> None:
    """Register the first baseline, the best run (``production``) and its retrain (``staging``).

    The retrain is the latest version: a challenger serving part of the traffic before promotion.
    """
    baseline = [runs[0]] if runs[0] is not best else []
    client.create_registered_model(
        REGISTERED_MODEL,
        description="Predicts the price category (low / medium / high) of a housing listing.",
    )
    versions = {}
    for run in [*baseline, best, retrain]:
        versions[run.run_id] = client.create_model_version(
            REGISTERED_MODEL,
            source=run.model_uri,
            run_id=run.run_id,
            model_id=run.model_id,
            description=f"{run.candidate.run_name}: accuracy {run.metrics['accuracy']:.3f}",
            tags={"model_type": run.candidate.model_type},
        ).version
    client.set_registered_model_alias(REGISTERED_MODEL, "production", versions[best.run_id])
    client.set_registered_model_alias(REGISTERED_MODEL, "staging", versions[retrain.run_id])
    progress(
        f"registered {REGISTERED_MODEL}: production = version {versions[best.run_id]} "
        f"({best.candidate.run_name}), staging = version {versions[retrain.run_id]} "
        f"({retrain.candidate.run_name})"
    )


def load_model(client, alias: str) -> ServedModel:
    """The version behind ``HousingPriceClassifier@alias``, its model loaded from the registry's files."""
    mlflow = _import_mlflow()
    version = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
    with tempfile.TemporaryDirectory(prefix="driftdeck-model-") as folder:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(REGISTERED_MODEL, version.version),
            dst_path=folder,
        )
        return ServedModel(str(version.version), mlflow.sklearn.load_model(path))


def _requirements() -> list[str]:
    import sklearn
    import skops

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"skops=={skops.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]
