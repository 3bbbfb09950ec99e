#!/usr/bin/env bash
# Lint and type-check (configuration: [tool.ruff] and [tool.mypy] in pyproject.toml).
# Runs both, then exits non-zero if either found anything. Needs the `test` extra (ruff, mypy).
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "+ ruff check ."
ruff check . || status=1
echo "+ mypy"
mypy || status=1
exit "$status"
