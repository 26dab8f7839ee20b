#!/usr/bin/env bash
# `make interop` (issue 23): headless QGIS (Debian python3-qgis, ~170 packages, installed here only, not by
# `make test`) opens the grids collection of /ogc as an OAPIF layer and counts it against the API.
# Needs the database of `make run` (migrated, sample loaded); serves the app on $PORT (default 8000) meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg-query -W -f='${Status}' python3-qgis 2>/dev/null | grep -q "install ok installed"; then
  echo "[interop] installing Debian's python3-qgis (headless QGIS)"
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends python3-qgis >/dev/null
fi
PORT=${PORT:-8000}
KEY=$(cat .data/admin-api-key)
.venv/bin/uvicorn api.main:app --host 127.0.0.1 --port "$PORT" --log-level warning &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.5; done
BASE="http://127.0.0.1:$PORT"
EXPECTED=$(curl -sf -H "Authorization: Bearer $KEY" "$BASE/ogc/collections/grids/items?limit=1" \
           | python3 -c 'import json,sys; print(json.load(sys.stdin)["numberMatched"])')
# A draft to try Part 4 on: the newest draft, or one copied from the layout in force for the occasion.
DRAFT=$(curl -sf -H "Authorization: Bearer $KEY" "$BASE/api/v1/layouts" \
        | python3 -c 'import json,sys; d=[l["id"] for l in json.load(sys.stdin)["items"] if l["status"]=="draft"]; print(d[0] if d else "")')
if [ -z "$DRAFT" ]; then
  DRAFT=$(curl -sf -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
          -d '{"name": "interop (QGIS)", "copy_of": null}' "$BASE/api/v1/layouts" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
fi
/usr/bin/python3 scripts/qgis_oapif.py "$BASE" "$KEY" "$EXPECTED" "$DRAFT"
