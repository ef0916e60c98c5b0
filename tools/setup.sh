#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (Python 3.11, root, no GPU):
# the embedded Fashion-MNIST data from Debian, and a .venv holding the pinned stack with ldmlr installed editable.
# Quick when nothing changed: the venv is rebuilt only when settings.ini, setup.py or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {  # install Debian packages that are missing; `apt-get update` only when needed
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_install dataset-fashion-mnist
[ "${LDMLR_SETUP_BROWSER:-0}" = 1 ] && apt_install chromium chromium-driver

extras="${LDMLR_SETUP_EXTRAS:-dev,docs}"
stamp=.venv/.ldmlr-setup
want="$(cat settings.ini setup.py tools/setup.sh | sha256sum | cut -d' ' -f1) $extras"
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: creating .venv and installing ldmlr[$extras] (torch pinned; about a minute)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import ldmlr, torch" || { echo "setup: installing ldmlr failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
