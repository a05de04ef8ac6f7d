#!/usr/bin/env bash
# Run the whole test suite on SQLite, then again on MySQL/MariaDB when a server answers.
#
#   bash scripts/test.sh            # any extra arguments go to pytest
#
# Without a MySQL server (or without the mysqlclient package) the MySQL run is skipped and the
# script says so clearly; with ZCRM_REQUIRE_MYSQL=1 (as CI sets) a missing server is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

echo "==> Test run 1/2: SQLite"
"$PY" -m pytest "$@"
sqlite_rc=$?
if [ $sqlite_rc -ne 0 ]; then
  echo "==> SQLite run FAILED (pytest exit code $sqlite_rc)" >&2
  exit $sqlite_rc
fi

mysql_problem=$("$PY" - <<'PYEOF'
import os
try:
    import MySQLdb
except ImportError:
    print("the mysqlclient package is not installed (pip install -e '.[test,mysql]')")
    raise SystemExit
try:
    MySQLdb.connect(host=os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
                    port=int(os.environ.get("ZCRM_MYSQL_PORT", "3306")),
                    user=os.environ.get("ZCRM_MYSQL_USER", "root"),
                    passwd=os.environ.get("ZCRM_MYSQL_PASSWORD", ""), connect_timeout=3).close()
except Exception as exc:
    print(f"no MySQL/MariaDB server accepted a connection ({exc})")
PYEOF
)

if [ -n "$mysql_problem" ]; then
  echo ""
  echo "############################################################################"
  echo "# MySQL/MariaDB run SKIPPED: $mysql_problem"
  echo "# Only the SQLite run was done. Start MariaDB on 127.0.0.1:3306 (root, empty"
  echo "# password, or set ZCRM_MYSQL_USER/ZCRM_MYSQL_PASSWORD) to run both."
  echo "############################################################################"
  if [ "${ZCRM_REQUIRE_MYSQL:-0}" = "1" ]; then
    echo "ZCRM_REQUIRE_MYSQL=1: the MySQL run is required; failing." >&2
    exit 1
  fi
  exit 0
fi

echo "==> Test run 2/2: MySQL/MariaDB (browser tests ran in the SQLite run only)"
ZCRM_TEST_DB=mysql "$PY" -m pytest -m "not browser" "$@"
mysql_rc=$?
if [ $mysql_rc -ne 0 ]; then
  echo "==> MySQL run FAILED (pytest exit code $mysql_rc)" >&2
  exit $mysql_rc
fi
echo "==> Both runs passed (SQLite and MySQL/MariaDB)."
