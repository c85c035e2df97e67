"""The bad-input corpus: every way a user's files or config can be wrong (issue 6).

Add a case in one place: a function decorated with ``@case("name")`` that writes its files under
``root`` and returns the config path (``@case("name", error="key")`` for a configuration that must
be refused with a one-line error naming ``key``). Every case runs through
``driftdeck monitor --json --no-log`` (tests/test_bad_inputs.py), where it must end in exit 0/3
with valid JSON or exit 2 with one line, and through the six pages of the served dashboard
(tests/test_bad_inputs_pages.py), where every section must load and say what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CASES: dict[str, Callable[[Path], Path]] = {}
ERRORS: dict[str, str] = {}
"""Cases whose configuration must be refused: what the one-line error names (a config key)."""
START = datetime(2026, 1, 1)


def case(name: str, error: str | None = None):
    def register(build: Callable[[Path], Path]):
        CASES[name] = build
        if error is not None:
            ERRORS[name] = error
        return build

    return register


def frame(n: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "timestamp": [START + timedelta(minutes=i) for i in range(n)],
            "request_id": [f"r{i}" for i in range(n)],
            "x": rng.normal(shift, 1, n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    pq.write_table(table, path)


def world(
    root: Path, ref: pd.DataFrame | None = None, inputs=None, predictions=None, config: str = ""
) -> Path:
    """Write the given frames (defaults: a small healthy world) and a config; return its path."""
    ref = frame(200, 1).assign(target=lambda d: np.where(d.x > 0, "a", "b")) if ref is None else ref
    inputs = frame(300, 2, 0.3) if inputs is None else inputs
    if predictions is None:
        source = inputs if isinstance(inputs, pd.DataFrame) and len(inputs) else frame(300, 2)
        predictions = source[["timestamp", "request_id"]].assign(prediction="a")
    for name, data in (
        ("ref.parquet", ref),
        ("inputs.parquet", inputs),
        ("predictions.parquet", predictions),
    ):
        if isinstance(data, bytes):
            (root / name).write_bytes(data)
        elif data is not False:
            write(root / name, data)
    path = root / "driftdeck.toml"
    path.write_text(
        '[data]\nreference = "ref.parquet"\ninputs = "inputs.parquet"\npredictions = "predictions.parquet"\n'
        'labels = "labels.parquet"\n[columns]\ntarget = "target"\n'
        '[mlflow]\ntracking_uri = "sqlite:///mlflow.db"\ntimeout_seconds = 2\n' + config
    )
    return path


@case("healthy")
def _healthy(root):
    return world(root)


@case("missing inputs file")
def _missing(root):
    return world(root, inputs=False, predictions=False)


@case("missing everything")
def _nothing(root):
    return world(root, ref=False, inputs=False, predictions=False)


@case("empty 0-byte file")
def _empty_bytes(root):
    return world(root, inputs=b"")


@case("0-row file")
def _zero_rows(root):
    return world(root, inputs=frame(0))


@case("truncated parquet")
def _truncated(root):
    world(root)
    data = (root / "inputs.parquet").read_bytes()
    (root / "inputs.parquet").write_bytes(data[: len(data) // 2])
    return root / "driftdeck.toml"


@case("data damaged behind a sound footer")
def _damaged_pages(root):
    """A directory of inputs where one file's footer reads fine but its pages do not (DuckDB
    fails in the middle of a scan): skipped like a truncated file, the others used."""
    path = world(root, inputs=False)
    write(root / "inputs" / "a.parquet", frame(300, 2, 0.3))
    write(root / "inputs" / "c.parquet", frame(300, 4, 0.3))
    data = bytearray((root / "inputs" / "a.parquet").read_bytes())
    data[200 : len(data) // 2] = b"Z" * (len(data) // 2 - 200)  # the timestamp's pages
    (root / "inputs" / "b.parquet").write_bytes(bytes(data))
    path.write_text(path.read_text().replace('inputs = "inputs.parquet"', 'inputs = "inputs"'))
    return path


@case("csv named .parquet")
def _not_parquet(root):
    return world(root, inputs=b"timestamp,x\n2026-01-01,1\n")


@case("1-row production")
def _one_row(root):
    return world(root, inputs=frame(1))


@case("all-null, constant, NaN and inf columns")
def _special_columns(root):
    ref, inp = frame(100, 1), frame(150, 2)
    for d in (ref, inp):
        d["all_null"] = pd.Series([None] * len(d), dtype="float64")
        d["constant"] = 7.0
        d["with_nan"] = np.where(np.arange(len(d)) % 3 == 0, np.nan, d["x"])
        d["with_inf"] = np.where(np.arange(len(d)) % 5 == 0, np.inf, d["x"])
        d.loc[1, "with_inf"] = -np.inf
    return world(root, ref=ref.assign(target="a"), inputs=inp)


@case("glob of files whose types disagree")
def _glob_types(root):
    write(root / "logs/a.parquet", frame(50, 3))
    write(root / "logs/b.parquet", frame(50, 4).assign(x=lambda d: d.x.astype(str)))
    path = world(root, inputs=False)
    path.write_text(
        path.read_text().replace('inputs = "inputs.parquet"', 'inputs = "logs/*.parquet"')
    )
    return path


@case("columns on one side only")
def _one_side(root):
    return world(root, ref=frame(100).drop(columns=["colour"]).assign(target="a", only_ref=1.0))


@case("type change between reference and production")
def _type_change(root):
    return world(root, inputs=frame(100, 2).assign(x=lambda d: d.x.round(1).astype(str)))


@case("hostile column names")
def _names(root):
    names = ["a b", 'it\'s "q"', "ünïcode ☃", "select", 'x"; DROP TABLE reference; --', "{format}"]
    ref, inp = frame(60, 1), frame(80, 2)
    for i, name in enumerate(names):
        ref[name] = np.arange(60) * (i + 1.0)
        inp[name] = np.arange(80) * (i + 1.5)
    return world(root, ref=ref.assign(target="a"), inputs=inp)


@case("HTML and JS in category values")
def _xss(root):
    inp = frame(100, 2)
    inp.loc[::7, "colour"] = "<script>alert(1)</script>"
    inp.loc[1::7, "colour"] = '"><img src=x onerror=alert(2)>'
    return world(root, inputs=inp)


@case("HTML and JS in column names")
def _xss_names(root):
    ref, inp = frame(60, 1), frame(80, 2)
    for i, name in enumerate(("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")):
        ref[name] = np.arange(60) * (i + 1.0)
        inp[name] = np.arange(80) * (i + 1.5)
    return world(root, ref=ref.assign(target="a"), inputs=inp)


@case("very long strings")
def _long(root):
    inp = frame(20, 2)
    inp["colour"] = ["y" * 100_000 + str(i) for i in range(20)]
    return world(root, inputs=inp)


@case("timestamps with time zones")
def _tz(root):
    inp = frame(50, 2)
    table = pa.Table.from_pandas(inp, preserve_index=False)
    idx = table.schema.get_field_index("timestamp")
    ts = pa.array(
        [START + timedelta(minutes=i) for i in range(50)], pa.timestamp("us", tz="Europe/Berlin")
    )
    return world(root, inputs=table.set_column(idx, "timestamp", ts))


@case("timestamps as strings with nulls and duplicates")
def _ts_strings(root):
    inp = frame(50, 2)
    inp["timestamp"] = [
        None if i % 10 == 0 else (START + timedelta(hours=i // 2)).isoformat() for i in range(50)
    ]
    return world(root, inputs=inp)


@case("timestamps in nanoseconds")
def _ns(root):
    inp = frame(50, 2)
    table = pa.Table.from_pandas(inp, preserve_index=False)
    idx = table.schema.get_field_index("timestamp")
    ts = pa.array([START + timedelta(minutes=i) for i in range(50)], pa.timestamp("ns"))
    return world(root, inputs=table.set_column(idx, "timestamp", ts))


@case("inputs and predictions with different row counts and no id")
def _no_id(root):
    inp = frame(100, 2).drop(columns=["request_id"])
    pred = pd.DataFrame(
        {"timestamp": [START + timedelta(minutes=3 * i) for i in range(40)], "prediction": "b"}
    )
    return world(root, inputs=inp, predictions=pred)


@case("file being written")
def _partial(root):
    world(root)
    data = (root / "predictions.parquet").read_bytes()
    (root / "predictions.parquet").write_bytes(data[:-10])  # footer not written yet
    return root / "driftdeck.toml"


@case("config with an unknown key", error="server.prot")
def _config_unknown(root):
    return world(root, config="[server]\nprot = 1\n")


@case("config with a wrong type", error="thresholds.psi.critical")
def _config_type(root):
    return world(root, config='[thresholds]\npsi = { critical = "high" }\n')


@case("config with a negative threshold", error="thresholds.cardinality_ratio.critical")
def _config_negative(root):
    return world(
        root, config="[thresholds]\ncardinality_ratio = { critical = -1.3, warning = -2 }\n"
    )
