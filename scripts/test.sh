#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, tests/: unit, contract,
# component, e2e and fleet (the fleet's hosts need root: network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers (pytest-xdist): most tests wait on processes, sockets and timeouts more than
# they compute, so two at once take ~0.6 of the time on two cores. The fleet's tests share
# one test fleet (network namespaces with fixed names) and run on one worker, in order
# (tests/conftest.py, pytest_xdist_make_scheduler); ZERODOWN_TEST_WORKERS=0 runs
# everything in this one process.
# The run's files in a short folder of its own: tests' unix sockets live there, and a
# socket's path holds 107 bytes (pytest's default, /tmp/pytest-of-<user>/pytest-<n>/
# popen-gw<k>/<test>/, leaves deep state directories too little room).
base=$(mktemp -d /tmp/zd.XXXXXX)
rc=0
.venv/bin/python -m pytest -n "${ZERODOWN_TEST_WORKERS:-2}" \
  --basetemp "$base" "$@" || rc=$?
if [ "$rc" -eq 0 ]; then rm -rf "$base"; else echo "test.sh: the run's files are kept in $base"; fi
exit "$rc"
