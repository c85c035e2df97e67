"""Writes ``report_before_typing.json``: the report's JSON as the code before the typed report
(commit 92ca853) made it, on three fixed worlds, for ``tests/test_report_types.py``.

Run with that commit's code on the path, never the current code (the golden is what the typed
report must still produce):
    mkdir /tmp/old && git archive 92ca853 | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=$PWD python3 <this file> OUT.json
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from app.config import Level
from app.engine import Engine
from app.report import full_report
from app.report_json import jsonable
from app.window import Window
from tests.page_helpers import versions_world
from tests.segment_worlds import segment_world
from tests.worlds import make_world

VOLATILE = ("generated_at", "status")
"""Keys left out: the time of the run, and the system status (file paths, ages of the newest rows
and MLflow's state depend on where and when it runs)."""


def strict(config):
    """The small world with low PSI levels and KS alerts on: many alerts of every kind."""
    thresholds = {**config.thresholds, "psi": Level(0.05, 0.02)}
    ks = dataclasses.replace(config.ks_alert, enabled=True)
    return dataclasses.replace(config, thresholds=thresholds, ks_alert=ks, store=None)


WORLDS = {
    "world": lambda root: dataclasses.replace(make_world(root), store=None),
    "strict": lambda root: strict(make_world(root, seed=1, n_ref=800, n_prod=900)),
    "segments": lambda root: dataclasses.replace(segment_world(root), store=None),
    "versions": lambda root: dataclasses.replace(versions_world(root), store=None),
}


def reports() -> dict:
    out = {}
    for name, world in WORLDS.items():
        with tempfile.TemporaryDirectory() as root:
            config = world(Path(root))
            report = jsonable(full_report(Engine(config), Window(), config, mlflow=False))
            out[name] = {k: v for k, v in report.items() if k not in VOLATILE}
    return out


if __name__ == "__main__":
    import sys

    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).with_name("report_before_typing.json")
    )
    path.write_text(json.dumps(reports(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
