#!/usr/bin/env bash
# Installs what gridmap needs and is missing: Debian packages, a .venv, the project (pinned).
# Idempotent and quick when nothing changed (a stamp keyed on pyproject.toml's hash).
# Usage: scripts/setup.sh [--test|--bench]
#   --test  also installs the headless browser (chromium) and CJK fonts for the UI tests, and GDAL (gdal-bin)
#   --bench the same as --test (the benchmarks need nothing more: bench/loadgen.py is their HTTP load generator)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
[ "${1:-}" = "--bench" ] && want_test=1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
pkgs=()
if [ -z "${DATABASE_URL:-}${GRIDMAP_DATABASE_URL:-}" ]; then
  pkgs+=(postgresql-15 postgresql-15-postgis-3)
fi
if [ "$want_test" = 1 ]; then
  pkgs+=(chromium fonts-noto-cjk)
  # ogr2ogr/ogrinfo: the GIS-client tests (tests/api/core/test_geojson_layers.py; the OAPIF driver of tests/api/ogc)
  pkgs+=(gdal-bin)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The postgresql-common postinst would create and start a system cluster on 5432; gridmap runs
  # its own under .data/, so tell it not to.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python environment ----------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.gridmap-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  say "installing gridmap and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.gridmap-installed-*
  touch "$stamp"
fi
