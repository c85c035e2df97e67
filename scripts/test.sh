#!/bin/sh
# The whole test suite on a fresh Debian machine with Python 3.11: installs what the tests need
# (Debian's Chromium for the browser tests, the pinned Python packages), lints, then runs pytest.
set -eu
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m pytest -q "$@"
