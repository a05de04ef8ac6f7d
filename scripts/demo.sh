#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite + the bundled fake Zoho server), no Zoho account
# needed: the token flow, then a sync of 500 Leads into the sample project's typed Lead model, a
# change at "Zoho" and an incremental sync that picks it up.   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "==> Creating .venv and installing django-zcrm"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".[test]"
  fi
  PY=.venv/bin/python
fi
PORT="${FAKE_ZOHO_PORT:-8765}"
export FAKE_ZOHO_URL="http://127.0.0.1:${PORT}"

# A database of the demo's own, new each run, so the counts below are this run's.
export DATABASE_URL="sqlite:///demo.sqlite3"
rm -f demo.sqlite3
echo "==> Migrating the sample project's SQLite database (demo.sqlite3)"
$PY manage.py migrate --verbosity 0

echo "==> Starting the fake Zoho server on ${FAKE_ZOHO_URL}"
LOG="${TMPDIR:-/tmp}/zcrm-fake-server.log"
$PY manage.py zcrm_fake_server --port "$PORT" --seed Leads=500 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
$PY - "$FAKE_ZOHO_URL" "$LOG" <<'PYEOF'
import sys, time, requests
for _ in range(100):
    try:
        requests.get(sys.argv[1] + "/_fake/self-client/grant", timeout=1)
        break
    except requests.ConnectionError:
        time.sleep(0.1)
else:
    sys.exit("the fake server did not start; see " + sys.argv[2])
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

echo "==> python manage.py zcrm_sync Leads   (first sync: every Lead, into crm.Lead)"
$PY manage.py zcrm_sync Leads

echo "==> A Lead changes at Zoho; the next sync is incremental"
$PY manage.py shell --verbosity 0 -c "
from django_zcrm.services import Module
leads = Module('Leads')
first = next(leads.iter_records(fields=['Last_Name']))
print(leads.update([{'id': first.id, 'Last_Name': 'Changed-In-Zoho'}]).summary())
"
$PY manage.py zcrm_sync Leads
$PY manage.py shell --verbosity 0 -c "
from sample_project.crm.models import Lead
print(Lead.objects.count(), 'Leads stored locally;', Lead.objects.filter(last_name='Changed-In-Zoho').count(), 'shows the change')
"
echo "==> Demo finished: tokens in demo.sqlite3 (table oauthtokens), Leads in crm_lead."
