#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite. The README's second command; CI runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
python -m pytest "$@"
