#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, tests/: unit, contract,
# component, e2e and fleet (the fleet's hosts need root: network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
