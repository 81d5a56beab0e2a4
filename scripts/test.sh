#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite. The README's second command;
# CI runs it too.
# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download cannot reach
# its servers here), so Chromium comes from apt when it is missing, as does PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
# PostgreSQL tests (tests/postgres.py) run Debian's postgresql binaries on a loopback port, in a folder of their own.
MISSING=""
command -v chromium >/dev/null 2>&1 || MISSING="$MISSING chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || MISSING="$MISSING postgresql"
if [ -n "$MISSING" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi
python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
python -m ruff check .            # lint: pyproject.toml's rules, the whole project
python -m ruff format --check .   # one format for the whole tree (.git-blame-ignore-revs names the commit that applied it)
python -m mypy                    # types: core/, ui/ and pages/, every function annotated (pyproject.toml)
# Two workers, a test file each at a time (its module fixtures stay whole): most tests wait on servers, browsers and
# stores, so two run side by side on two cores (issue 28: 881 s -> 607 s on this machine, measured side by side).
# A group alone: `bash scripts/test.sh -m browser`, `-m postgres`, or `-m "not browser and not postgres"`.
python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile --durations=30 "$@"
