"""``Monitor``: one user's view of the engine — the config and the production time window.

Results are computed lazily on first access by the process-wide ``Engine`` and cached per
(data version, window), so every session (and every page) asking the same thing shares one result.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import param

from app import theme
from app.config import Config, load_config
from app.engine import Engine, shared_engine
from app.report_types import Report, judged_over_time
from app.window import Window


class Monitor(param.Parameterized):
    """The production window and everything computed for it; pages draw from this."""

    config = param.ClassSelector(class_=Config, doc="""Resolved Driftdeck configuration.""")

    start = param.Date(
        default=None, allow_None=True, doc="""Window start (inclusive); None = first row."""
    )

    end = param.Date(
        default=None, allow_None=True, doc="""Window end (exclusive); None = after the last row."""
    )

    data_version = param.Integer(default=0, doc="""Bumped whenever the parquet files change.""")

    busy = param.Boolean(default=False, doc="""True while a long computation runs.""")

    updating = param.String(
        default="", doc="""Non-empty while data is being rewritten (last good result shown)."""
    )

    def __init__(self, config: Config | None = None, engine: Engine | None = None, **params):
        config = config or load_config()
        super().__init__(config=config, **params)
        self.engine = engine or shared_engine(config)
        self._seen_version = self.engine.version
        self._default = self.engine.monitoring_window()
        if "start" not in params and "end" not in params:
            # Opens on the monitoring window: headline numbers and alerts are about now.
            self.set_window(self._default.start, self._default.end)

    @classmethod
    def from_config(cls, path: str | Path | None = None, **params) -> Monitor:
        """A monitor on the config at ``path`` (default: $DRIFTDECK_CONFIG or ./driftdeck.toml)."""
        return cls(load_config(path), **params)

    @property
    def window(self) -> Window:
        """The selected window (labelled with its span when it is the monitoring window)."""
        if self.at_default:
            return self._default
        return Window(self.start, self.end)

    @property
    def at_default(self) -> bool:
        """True while the window is the monitoring window (where Reset returns)."""
        return (self.start, self.end) == (self._default.start, self._default.end)

    @property
    def at_all_rows(self) -> bool:
        return self.start is None and self.end is None

    def window_label(self) -> str:
        """The window in words, naming the monitoring window when it is the one shown."""
        return theme.format_window(self.start, self.end, self.window.span)

    def set_window(self, start: datetime | None, end: datetime | None) -> None:
        """Set both ends at once so dependants recompute once."""
        self.param.update(start=start, end=end)

    def reset_window(self) -> None:
        """Back to the monitoring window (``[monitoring] window``, "7d" by default)."""
        self.set_window(self._default.start, self._default.end)

    def all_rows(self) -> None:
        """Widen the window to every production row."""
        self.set_window(None, None)

    def refresh(self) -> bool:
        """Check the files; bump ``data_version`` when they changed since this monitor last looked.

        The engine is shared: another session may have seen the change first, so compare versions
        rather than trusting the engine's "changed" answer.
        """
        self.engine.refresh()
        version = self.engine.version
        if version == self._seen_version:
            return False
        self._seen_version = version
        following = self.at_default
        self._default = self.engine.monitoring_window()
        changes = {"data_version": self.data_version + 1}
        if following:  # the trailing window moves with the newest row
            changes.update(start=self._default.start, end=self._default.end)
        self.param.update(**changes)
        return True

    def report(self, mlflow: bool = True) -> Report:
        """The typed report (``driftdeck monitor --json``, with alerts and status) of the current
        window: one per (data version, window) that every page section shares.

        With ``mlflow=False`` MLflow is only checked for reachability (the drift sections must not
        wait up to MLflow's timeout when it is down); the accuracy baseline is still read from it,
        so the alerts are those of a logged ``monitor`` run.
        """
        from app.report import shared_report

        if mlflow:
            return shared_report(self.engine, self.window, self.config)
        return shared_report(
            self.engine, self.window, self.config, mlflow=False, mlflow_baseline=True
        )

    def data_problem(self, role: str) -> str | None:
        """Why a data role (``reference``, ``inputs``, ...) has no readable data, naming its file
        as the system status does; None when it has some."""
        sources = self.engine.sources
        return None if sources.available(role) else sources.state(role).problem

    def full_range(self) -> tuple[datetime | None, datetime | None]:
        """Oldest and newest production input timestamp."""
        _, first, last = self.engine.time_range("inputs")
        return first, last

    def drift_over_time(self, bucket: str = "auto") -> dict:
        """Drift per time bucket of the window, each bucket's PSI judged (``severity``)."""
        return judged_over_time(self.engine.drift_over_time(self.window, bucket), self.config)

    def distribution(self, feature: str, bins: int = 30) -> dict:
        return self.engine.distribution(feature, self.window, bins)

    def accuracy_over_time(self) -> dict:
        return self.engine.accuracy_over_time(self.window)

    def production_rows(self, offset: int = 0, limit: int = 50):
        return self.engine.production_rows(self.window, offset, limit)
