"""The scan floor of ``driftdeck bench``: ``python -m app.bench_floor QUERY.sql``.

A process that imports duckdb and runs the one query of ``app.bench_plan.floor_sql`` (every used
column of every file, read once); nothing else, so its time is the floor the monitor is held to.
"""

import sys

import duckdb


def main(query_file: str) -> None:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    with open(query_file, encoding="utf-8") as query:
        con.execute(query.read()).fetchall()


if __name__ == "__main__":
    main(sys.argv[1])
