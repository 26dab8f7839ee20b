#!/usr/bin/env bash
# The baseline server of bench/tipg.py: tipg (PyPI) in its own virtualenv, .venv-tipg, with every package pinned
# in bench/tipg-requirements.txt. Kept apart from the project's .venv because tipg's pins (fastapi 0.165, asyncpg,
# cql2 …) are not ours. Idempotent: a stamp keyed on the requirements file's hash skips a second run.
# Exit status 0 when .venv-tipg is ready; otherwise non-zero with the reason on stderr (the bench then skips).
set -euo pipefail
cd "$(dirname "$0")/.."
REQ=bench/tipg-requirements.txt
VENV=.venv-tipg
stamp="$VENV/.tipg-installed-$(sha256sum "$REQ" | cut -c1-16)"
[ -f "$stamp" ] && exit 0
# the interpreter of the project's .venv (the same Python the app runs on), else python3
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; print(sys._base_executable)' || echo python3)}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" -c 'import tipg.main, uvicorn' 
rm -f "$VENV"/.tipg-installed-*
touch "$stamp"
echo "[tipg] $VENV ready: $("$VENV/bin/python" -m pip show tipg 2>/dev/null | sed -n 's/^Version: /tipg /p')"
