#!/bin/sh
# Install Driftdeck with pinned versions and serve the dashboard on http://localhost:8501
# (the first run with no data builds the demo world in ./data, ./driftdeck.toml and ./mlflow.db).
set -eu
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -c constraints.txt -e .
exec driftdeck serve "$@"
