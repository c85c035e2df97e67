"""Where the monitor's time goes: ``python -m app.bench_profile CONFIG``.

Computes the full report in-process, as ``driftdeck bench``'s monitor does (every row, no store),
timing each query with the engine function that asked for it; prints JSON for
``app.bench_check.summarise_profile``. Not part of the bench's figures.
"""

import json
import sys
import time

queries: list[dict] = []


def timed(fetch):
    """``fetch`` recording its time, its SQL and the two innermost app functions that called it."""

    def run(self, sql, params=None):
        frame, chain = sys._getframe(1), []
        while frame is not None and len(chain) < 2:
            name = frame.f_code.co_filename.replace("\\", "/")
            if "/app/" in name and not name.endswith("/sources.py"):
                chain.append(name.rsplit("/", 1)[1][:-3] + "." + frame.f_code.co_name)
            frame = frame.f_back
        start = time.perf_counter()
        try:
            return fetch(self, sql, params)
        finally:
            queries.append(
                {
                    "caller": " < ".join(chain),
                    "seconds": time.perf_counter() - start,
                    "sql": " ".join(sql.split())[:200],
                }
            )

    return run


def main(config_file: str) -> None:
    started = time.perf_counter()
    # Imported here: their time is part of the profile.
    from app.config import load_config
    from app.engine import Engine
    from app.report import full_report
    from app.sources import Sources
    from app.window import Window

    imported = time.perf_counter()
    Sources.fetchall = timed(Sources.fetchall)
    Sources.fetchnumpy = timed(Sources.fetchnumpy)
    config = load_config(config_file).with_overrides(store=None)  # computed, not read back
    full_report(Engine(config), Window(), config, mlflow=False)  # every row, as the bench's monitor
    finished = time.perf_counter()
    total = finished - started
    profile = {"import_seconds": imported - started, "total_seconds": total, "queries": queries}
    json.dump(profile, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
