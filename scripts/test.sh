#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite. The README's second command;
# CI runs it too.
# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download cannot reach
# its servers here), so Chromium comes from apt when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
python -m ruff check .   # lint: pyproject.toml's rules, the whole project
python -m mypy           # types: core/ (pyproject.toml)
python -m pytest "$@"
