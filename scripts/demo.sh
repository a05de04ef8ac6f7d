#!/usr/bin/env bash
# The whole token flow on the embedded defaults (SQLite + the bundled fake Zoho server), no Zoho
# account needed:  bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv and installing django-zcrm"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test]"
fi
PY=.venv/bin/python
PORT="${FAKE_ZOHO_PORT:-8765}"
export FAKE_ZOHO_URL="http://127.0.0.1:${PORT}"

echo "==> Migrating the sample project's SQLite database"
$PY manage.py migrate --verbosity 0

echo "==> Starting the fake Zoho server on ${FAKE_ZOHO_URL}"
$PY manage.py zcrm_fake_server --port "$PORT" >/tmp/zcrm-fake-server.log 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
$PY - "$FAKE_ZOHO_URL" <<'PYEOF'
import sys, time, requests
for _ in range(100):
    try:
        requests.get(sys.argv[1] + "/_fake/self-client/grant", timeout=1)
        break
    except requests.ConnectionError:
        time.sleep(0.1)
else:
    sys.exit("the fake server did not start; see /tmp/zcrm-fake-server.log")
PYEOF

echo "==> Getting a grant token from the fake Self Client console"
GRANT=$($PY -c "import requests,sys; print(requests.get(sys.argv[1] + '/_fake/self-client/grant', timeout=5).json()['code'])" "$FAKE_ZOHO_URL")

echo "==> python manage.py zcrm_generate_token <grant token>"
$PY manage.py zcrm_generate_token "$GRANT"

echo "==> python manage.py zcrm_token_status"
$PY manage.py zcrm_token_status

echo "==> python manage.py zcrm_refresh_token"
$PY manage.py zcrm_refresh_token
$PY manage.py zcrm_token_status
echo "==> Demo finished: tokens are stored in sample.sqlite3 (table oauthtokens)."
