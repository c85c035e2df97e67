"""Parquet on object storage: s3:// paths read in place through fsspec, against a local
S3-compatible server (moto) started by the test."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.cli import main
from benchmarks.harness import free_port
from tests.worlds import assert_close, make_world

SECRET = "s3cr3t-never-printed"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """An S3 filesystem on the local server, credentials in the standard environment."""
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)


def _upload(s3, local: Path, bucket: str, hive: bool = False) -> None:
    """The world's files into a bucket: inputs split into daily, hive-partitioned objects."""
    if not s3.exists(bucket):
        s3.mkdir(bucket)
    s3.put(str(local / "data/reference/reference.parquet"), f"{bucket}/reference/reference.parquet")
    s3.put(str(local / "data/production/predictions.parquet"), f"{bucket}/predictions.parquet")
    inputs = pd.read_parquet(local / "data/production/inputs.parquet")
    for day, part in inputs.groupby(inputs["timestamp"].dt.date):
        name = f"inputs/date={day}/part.parquet" if hive else f"inputs/{day}.parquet"
        with s3.open(f"{bucket}/{name}", "wb") as out:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), out)


def _config(folder: Path, data: dict[str, str], extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f'{role} = "{path}"' for role, path in data.items())
    path = folder / "driftdeck.toml"
    path.write_text(
        f'[data]\n{lines}\nlabels = "none.parquet"\n'
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        '[monitoring]\nwindow = "all"\n' + extra
    )
    return path


def _monitor(config: Path, capsys) -> tuple[int, dict | None, str]:
    code = main(["monitor", "--json", "--no-log", "--config", str(config)])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def _metrics(report: dict) -> dict:
    return {
        k: report[k] for k in ("rows", "features", "prediction_drift", "dataset_drift", "alerts")
    }


@pytest.mark.parametrize("hive", [False, True])
def test_s3_prefixes_give_the_same_report_as_local_files(tmp_path, s3, capsys, hive):
    make_world(tmp_path / "local")
    bucket = f"logs-{'hive' if hive else 'daily'}"
    _upload(s3, tmp_path / "local", bucket, hive=hive)
    local = _config(
        tmp_path / "local",
        {
            "reference": "data/reference/reference.parquet",
            "inputs": "data/production/inputs.parquet",
            "predictions": "data/production/predictions.parquet",
        },
    )
    remote = _config(
        tmp_path / "remote",
        {
            "reference": f"s3://{bucket}/reference/",
            "inputs": f"s3://{bucket}/inputs/",
            "predictions": f"s3://{bucket}/predictions.parquet",
        },
    )
    code_local, want, _ = _monitor(local, capsys)
    code, got, err = _monitor(remote, capsys)
    assert (code, err) == (code_local, "")
    assert_close(_metrics(got), _metrics(want))
    inputs = next(s for s in got["status"] if s["component"] == "inputs")
    assert inputs["ok"] and f"s3://{bucket}/inputs/" in inputs["location"]
    assert SECRET not in json.dumps(got)


def test_a_new_object_is_seen_and_a_glob_works(tmp_path, s3, capsys):
    make_world(tmp_path / "local")
    _upload(s3, tmp_path / "local", "logs-glob")
    config = _config(
        tmp_path / "remote",
        {
            "reference": "s3://logs-glob/reference/reference.parquet",
            "inputs": "s3://logs-glob/inputs/2026-01-0*.parquet",
            "predictions": "s3://logs-glob/predictions.parquet",
        },
    )
    _, first, _ = _monitor(config, capsys)
    inputs = pd.read_parquet(tmp_path / "local/data/production/inputs.parquet")
    nine_days = (inputs["timestamp"] < pd.Timestamp("2026-01-10")).sum()
    assert first["rows"]["inputs"] == nine_days
    extra = inputs.head(10)
    with s3.open("logs-glob/inputs/2026-01-01-late.parquet", "wb") as out:
        pq.write_table(pa.Table.from_pandas(extra, preserve_index=False), out)
    _, second, _ = _monitor(config, capsys)
    assert second["rows"]["inputs"] == nine_days + 10


def test_a_missing_bucket_or_endpoint_is_one_line_naming_the_path(
    tmp_path, s3, capsys, monkeypatch
):
    make_world(tmp_path / "local")
    _upload(s3, tmp_path / "local", "logs-ok")
    config = _config(
        tmp_path / "remote",
        {
            "reference": "s3://logs-ok/reference/",
            "inputs": "s3://no-such-bucket/inputs/",
            "predictions": "s3://logs-ok/predictions.parquet",
        },
        extra=f'[storage]\nsecret = "{SECRET}"\nkey = "testing"\n',
    )
    code, out, err = _monitor(config, capsys)
    assert code == 2 and out is None and err.count("\n") == 1
    assert "s3://no-such-bucket/inputs/" in err and SECRET not in err

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    config = _config(
        tmp_path / "dead",
        {"reference": "s3://logs-ok/reference/", "inputs": "s3://logs-ok/inputs/"},
    )
    code, out, err = _monitor(config, capsys)
    assert code == 2 and err.count("\n") == 1 and "s3://logs-ok/" in err and SECRET not in err


def test_the_pages_on_a_bucket_show_what_they_show_on_disk(tmp_path, s3):
    """The six pages over the world uploaded to the bucket read as over the same files on disk
    (apart from where the files are)."""
    from app.config import load_config
    from app.engine import Engine
    from app.monitor import Monitor
    from app.pages import PAGES, build_page
    from tests.page_helpers import render, shown_text

    make_world(tmp_path / "local")
    _upload(s3, tmp_path / "local", "logs-pages")  # daily objects (hive adds a column)
    data = {
        "reference": "data/reference/reference.parquet",
        "inputs": "data/production/inputs.parquet",
        "predictions": "data/production/predictions.parquet",
    }
    remote = {
        "reference": "s3://logs-pages/reference/",
        "inputs": "s3://logs-pages/inputs/",
        "predictions": "s3://logs-pages/predictions.parquet",
    }
    local = load_config(_config(tmp_path / "local", data, "[engine]\nstore = false\n"))
    bucket = load_config(_config(tmp_path / "remote", remote, "[engine]\nstore = false\n"))
    places = [(str(local.path(role)), str(bucket.path(role))) for role in data]
    places.append((str(tmp_path / "local"), str(tmp_path / "remote")))  # the config's folder
    on_disk = Monitor(local, engine=Engine(local))
    on_s3 = Monitor(bucket, engine=Engine(bucket))
    for slug in PAGES:
        want = shown_text(render(build_page(slug, on_disk)))
        got = shown_text(render(build_page(slug, on_s3)))
        for path, url in places:
            want = want.replace(path, url)
        # the bucket holds the inputs as daily objects, the disk as one file
        want, got = (re.sub(r"in \d+ files?\b", "in N files", text) for text in (want, got))
        assert got == want, slug
        assert SECRET not in got
