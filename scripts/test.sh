#!/usr/bin/env bash
# The test command: sets up ./.venv if needed, then runs the whole pytest suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k imaging`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -q "$@"
