"""The ``driftdeck`` command: serve | monitor | export | demo | bench (README, Command line)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from app.errors import DriftdeckError
from app.feature_drift import TestResult
from app.progress import terminal_progress
from app.report_types import Report, Status

EXIT_OK, EXIT_USAGE, EXIT_CRITICAL = 0, 2, 3
PAGE_SLUGS = ("overview", "drift", "features", "performance", "production", "alerts")


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="driftdeck.toml to use (default: $DRIFTDECK_CONFIG or ./driftdeck.toml)",
    )


def _window_args(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--window",
        nargs=2,
        metavar=("START", "END"),
        help="ISO timestamps, END exclusive (default: the monitoring window, [monitoring] window)",
    )
    which.add_argument(
        "--all-rows", action="store_true", help="every production row, not the monitoring window"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="driftdeck", description="Monitoring dashboard for models in production.")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    serve = sub.add_parser(
        "serve", help="serve the dashboard (builds the demo world on first run with no data)"
    )
    _config_arg(serve)
    serve.add_argument("--port", type=int, help="port (default: $DASHBOARD_PORT or 8501)")
    serve.add_argument("--address", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--show", action="store_true", help="open a browser tab")
    serve.add_argument(
        "--num-procs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes behind one port, sharing the result store (0: one per CPU; default 1)",
    )
    serve.add_argument(
        "--basic-auth",
        metavar="PASSWORD_OR_FILE",
        help="require a login: one password, or a JSON file of user names and passwords "
        "(default: $DRIFTDECK_BASIC_AUTH or [server] basic_auth)",
    )
    serve.add_argument(
        "--cookie-secret",
        metavar="SECRET",
        help="key signing login cookies (default: $DRIFTDECK_COOKIE_SECRET, "
        "[server] cookie_secret, or random per start)",
    )

    monitor = sub.add_parser(
        "monitor", help="compute every metric headless; print JSON; log to MLflow"
    )
    _config_arg(monitor)
    monitor.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    monitor.add_argument("--no-log", action="store_true", help="do not log the run to MLflow")
    monitor.add_argument(
        "--prometheus",
        metavar="FILE",
        help="also write the metrics in the Prometheus text format (for a textfile collector)",
    )
    monitor.add_argument(
        "--backend",
        choices=("duckdb", "spark"),
        help="compute with this engine backend instead of [engine] backend",
    )
    _window_args(monitor)

    export = sub.add_parser("export", help="write pages to one self-contained static HTML file")
    _config_arg(export)
    export.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write")
    export.add_argument("--page", choices=PAGE_SLUGS, help="one page only (default: all six)")
    _window_args(export)

    demo = sub.add_parser("demo", help="build the demo world (data, MLflow runs, registered model)")
    _config_arg(demo)
    demo.add_argument("--out", default=".", metavar="DIR", help="folder to write into (default: .)")
    demo.add_argument(
        "--rows", type=int, default=100_000, metavar="N", help="production rows (default 100000)"
    )
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    demo.add_argument("--now", metavar="ISO", help="end of the 30 production days (default: now)")

    bench = sub.add_parser(
        "bench", help="benchmark the engine against the scan floor and pandas+scipy"
    )
    _config_arg(bench)
    bench.add_argument(
        "--rows", type=int, default=10_000_000, metavar="N", help="production rows (default 10M)"
    )
    bench.add_argument(
        "--out", default=".bench", metavar="DIR", help="where data and results go (default .bench)"
    )
    bench.add_argument(
        "--naive-max-rows",
        type=int,
        default=None,
        metavar="N",
        help="largest size for the naive way",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DriftdeckError as exc:
        print(f"driftdeck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"driftdeck {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        first = (str(exc).splitlines() or [""])[0]
        print(f"driftdeck {args.command}: error: {type(exc).__name__}: {first}", file=sys.stderr)
        return EXIT_USAGE


def _window(args):
    from app.window import Window, parse_timestamp

    if not getattr(args, "window", None):
        return Window()
    start, end = args.window
    return Window(parse_timestamp(start, "--window START"), parse_timestamp(end, "--window END"))


def cmd_monitor(args) -> int:
    from app.config import load_config
    from app.engine import Engine
    from app.report import full_report

    started = time.perf_counter()
    progress = terminal_progress("driftdeck monitor")
    config = load_config(args.config)
    if getattr(args, "backend", None):
        config = config.with_overrides(backend=args.backend)
    window = _window(args)
    progress("reading data")
    engine = Engine(config)
    ref, inp = engine.sources.state("reference"), engine.sources.state("inputs")
    if not ref.available and not inp.available:
        raise DriftdeckError(f"no data: reference {ref.problem}; inputs {inp.problem}")
    for role, state in (("reference", ref), ("production inputs", inp)):
        if not state.available:  # nothing to compare: a data error, not an all-clear
            raise DriftdeckError(f"no {role}: {state.problem}")
    if args.window and not engine.roles().timestamp["inputs"]:
        named = config.columns.timestamp
        why = (
            f"columns.timestamp {named!r} is not one of its columns"
            if named
            else "none found (set columns.timestamp in the config)"
        )
        raise DriftdeckError(
            f"--window needs a timestamp column in the inputs ({config.path('inputs')}): {why}"
        )
    if not args.window and not args.all_rows:  # the monitoring window: alerts are about now
        window = engine.monitoring_window()
    progress("computing metrics")
    report = Report.from_dict(full_report(engine, window, config, mlflow=not args.no_log), config)
    if not args.no_log:
        progress("logging to MLflow")
        _log(report, config, window)
    if config.webhooks:  # with or without MLflow
        progress("notifying webhooks")
        _notify(report, config)
    if args.prometheus:
        from app.prometheus import write_textfile

        write_textfile(report, Path(args.prometheus), time.perf_counter() - started)
    critical = report.critical_alerts
    if args.json:
        print(report.to_json())
    else:
        print(_summary(report))
    progress("done")
    return EXIT_CRITICAL if critical else EXIT_OK


@contextmanager
def _silenced():
    """Keep library log records (MLflow's, SQLAlchemy's, with their tracebacks) and warnings off
    stderr while the block runs: the command's stderr is one line, or nothing."""
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _log(report: Report, config, window) -> None:
    """Log the run to MLflow; a failure becomes a status entry, not a crash."""
    try:
        from app.monitor_log import log_monitor_run
    except ImportError:
        report.status.append(Status("monitor log", False, "MLflow logging unavailable"))
        return
    try:
        with _silenced():
            run_id = log_monitor_run(report, config)
        report.status.append(Status("monitor log", True, f"logged run {run_id}"))
        for entry in report.status:
            if entry.component == "mlflow" and "no MLflow store" in (entry.message or ""):
                # Checked before logging; logging created the store.
                entry.ok = True
                entry.message = f"MLflow store created at {entry.details['uri']} by this run"
    except DriftdeckError as exc:
        report.status.append(Status("monitor log", False, str(exc)))


def _notify(report: Report, config) -> None:
    """Webhooks hear of transitions (active, resolved); a failure becomes a status entry."""
    from app.notifications import notify_critical

    try:
        notify_critical(report.alerts, config, silenced=report.silenced)
    except DriftdeckError as exc:
        report.status.append(Status("notifications", False, str(exc)))


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _summary(report: Report) -> str:
    """A readable plain-text report for a terminal."""
    lines = []
    w = report.window
    rows = report.rows
    span = f" (last {w['span']})" if w.get("span") not in (None, "all") else ""
    lines.append(f"window {w['start'] or 'first row'} → {w['end'] or 'last row'}{span}")
    lines.append(
        " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}=—" for k, v in rows.items())
    )
    lines.append(f"{'feature':<28} {'kind':<16} {'psi':>8} {'js':>8}  other")
    for name, f in report.features.items():
        other = ""
        if f.kind == "numerical":
            ks = f.ks or TestResult()
            other = f"ks D={_fmt(ks.statistic)} p={_fmt(ks.pvalue, 3)} w={_fmt(f.wasserstein)}"
        elif f.kind == "categorical":
            chi2 = f.chi2 or TestResult()
            other = f"chi2={_fmt(chi2.statistic, 1)} p={_fmt(chi2.pvalue, 3)}"
        else:
            other = f"cardinality ratio={_fmt(f.score, 3)}"
        lines.append(f"{name[:28]:<28} {f.kind:<16} {_fmt(f.psi):>8} {_fmt(f.js):>8}  {other}")
    pd = report.prediction_drift
    lines.append(f"prediction drift: kl={_fmt(pd.kl)} js={_fmt(pd.js)}")
    dd = report.dataset_drift
    lines.append(f"dataset drift: share={_fmt(dd.share, 2)} drifted={dd.drifted}")
    for alert in report.alerts:
        lines.append(f"[{alert.severity}] {alert.message}")
    for alert in report.silenced:
        until = (alert.silenced or {}).get("until")
        lines.append(f"[{alert.severity}, silenced until {until}] {alert.message}")
    for entry in report.status:
        if not entry.ok:
            lines.append(f"status: {entry.component}: {entry.message}")
    return "\n".join(lines)


def cmd_demo(args) -> int:
    from app.demo import build_demo
    from app.window import parse_timestamp

    now = parse_timestamp(args.now, "--now") if args.now else None
    if args.rows < 1000:
        raise DriftdeckError(f"--rows must be at least 1000, got {args.rows}")
    out = Path(args.out)
    build_demo(
        out, rows=args.rows, seed=args.seed, now=now, progress=terminal_progress("driftdeck demo")
    )
    print(
        f"demo world written to {out.resolve()} (config: {out.resolve() / 'driftdeck.toml'})",
        file=sys.stderr,
    )
    return EXIT_OK


def ensure_demo_world(config_arg: str | None) -> None:
    """First run: with no config given and no data at the default paths, build the demo world here."""
    import os

    from app.config import config_path, load_config

    path, named = config_path(config_arg)
    if named or path.is_file():
        return
    config = load_config(config_arg)
    from app.sources import expand

    if expand(config.path("reference")) or expand(config.path("inputs")):
        return
    from app.demo import DemoFiles, build_demo

    foreign = DemoFiles(Path.cwd()).foreign()
    if foreign:
        print(
            f"driftdeck: no data found; not building the demo world here, {foreign[0]} was not "
            "written by driftdeck demo (driftdeck demo --out DIR builds it elsewhere)",
            file=sys.stderr,
        )
        return
    print(
        f"driftdeck: no data found; building the demo world in {os.getcwd()} first", file=sys.stderr
    )
    build_demo(Path.cwd(), progress=terminal_progress("driftdeck demo"))


def cmd_serve(args) -> int:
    from app.config import load_config

    ensure_demo_world(args.config)
    basic_auth = args.basic_auth
    if basic_auth and Path(basic_auth).expanduser().is_file():  # a file relative to here
        basic_auth = str(Path(basic_auth).expanduser().resolve())
    config = load_config(
        args.config,
        port=args.port,
        address=args.address,
        basic_auth=basic_auth,
        cookie_secret=args.cookie_secret,
    )
    from app.server import serve

    if args.num_procs < 0:
        raise DriftdeckError(f"--num-procs must be 0 (one per CPU) or more, got {args.num_procs}")
    serve(config, show=args.show, num_procs=args.num_procs)
    return EXIT_OK


def cmd_export(args) -> int:
    from app.config import load_config

    config = load_config(args.config)
    try:
        from app.export import export_pages
    except ImportError:
        raise DriftdeckError("export is not implemented yet") from None
    out = Path(args.out)
    window = _window(args)
    export_pages(
        config,
        out,
        page=args.page,
        window=(window.start, window.end) if args.window or args.all_rows else None,
        progress=terminal_progress("driftdeck export"),
    )
    print(f"wrote {out.resolve()}", file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    try:
        from app.bench import run_bench
    except ImportError:
        raise DriftdeckError("bench is not implemented yet") from None
    return run_bench(args)


COMMANDS = {
    "serve": cmd_serve,
    "monitor": cmd_monitor,
    "export": cmd_export,
    "demo": cmd_demo,
    "bench": cmd_bench,
}

if __name__ == "__main__":
    sys.exit(main())
