#!/usr/bin/env bash
# Installs what zerodown needs on a Debian machine, idempotently and quickly when
# everything is there already: Debian packages (HAProxy, nginx, wrk, ...) with
# apt-get when missing, and a virtualenv in .venv with zerodown and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# hey: an outside load generator the tests check the deployment proof's counts against;
# chromium: the dashboard's browser test drives Debian's build with Playwright (no browser
# download); nodejs runs the unit tests of the dashboard's JavaScript; openssh-server, nftables
# and iproute2 build the test fleet of the ssh runtime (tests/support/fleet.py); nghttp2-client
# brings h2load, the HTTP/2 load generator of the proxy's tests and benchmark
DEBIAN_PACKAGES=(haproxy nginx wrk hey curl gcc prometheus chromium nodejs
                 openssh-server openssh-client nftables iproute2 nghttp2-client)
PYTHON=${PYTHON:-python3}

# Compiling the proxy's hot path needs the headers of the Python that runs it.
if ! "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  DEBIAN_PACKAGES+=(python3-dev)
fi
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages' own services are not ours: zerodown starts the daemons it uses itself.
for svc in haproxy nginx ssh; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    echo "setup: note: the system $svc service is running; zerodown does not use it"
  fi
done

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.zerodown-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing zerodown and its test tools into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test,accel]'
  touch "$stamp"
fi
# The proxy's hot path compiled to C (about 30 s, once per change of its source);
# if that fails the proxy still runs, as plain Python, only slower.
if ! .venv/bin/python -m zerodown accel build >/dev/null 2>.venv/accel-build.log; then
  echo "setup: warning: could not compile the proxy hot path (see .venv/accel-build.log); it runs as Python"
fi
