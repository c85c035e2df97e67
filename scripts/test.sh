#!/bin/sh
# The whole test suite on a fresh Debian machine with Python 3.11: installs what the tests need
# (Debian's Chromium for the browser tests, Debian's Java runtime for the Spark tests, the pinned
# Python packages), lints, then runs pytest.
set -eu
cd "$(dirname "$0")/.."
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"
if [ -n "$missing" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,spark]'
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m pytest -q "$@"
