#!/usr/bin/env bash
# Run the whole test suite on SQLite, then on MySQL/MariaDB and PostgreSQL side by side (their
# output is shown when both are done), each server run only when a server answers.
#
#   bash scripts/test.sh            # any extra arguments go to pytest
#
# Without a MySQL server (or the mysqlclient package), or without a PostgreSQL server (or the
# psycopg package), that run is skipped and the script says so in a loud banner; with
# ZCRM_REQUIRE_MYSQL=1 / ZCRM_REQUIRE_POSTGRES=1 (as CI sets) a missing server is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

skipped=()
passed=(SQLite)

# skip NAME REQUIRE_VAR PROBLEM HINT: print the banner; exit 1 when REQUIRE_VAR is 1.
skip() {
  local name=$1 require_var=$2 problem=$3 hint=$4
  echo ""
  echo "############################################################################"
  echo "# $name run SKIPPED: $problem"
  echo "# $hint"
  echo "############################################################################"
  if [ "${!require_var:-0}" = "1" ]; then
    echo "$require_var=1: the $name run is required; failing." >&2
    exit 1
  fi
  skipped+=("$name")
}

# start NAME DB LOG: the suite on ZCRM_TEST_DB=DB, in the background, its output in LOG. Browser
# tests, and tests that bring a project or database of their own (marked "once": README, newcomer
# path, demo, benchmark smoke tests), ran in the SQLite run already: the database under test
# changes nothing for them. The MySQL/MariaDB and PostgreSQL runs go side by side: each waits on
# its server and on the fake's simulated network much of the time.
pids=()
names=()
logs=()
# Job control on: a background command of a script otherwise starts with SIGINT ignored, and
# the tests that stop a server with Ctrl-C (SIGINT) would wait on it in vain.
set -m
start() {
  local name=$1 db=$2 log=$3
  echo "==> Test run: $name, started in the background (browser and \"once\" tests ran in the SQLite run only)"
  ZCRM_TEST_DB=$db "$PY" -m pytest -p no:cacheprovider -m "not browser and not once" "${@:4}" >"$log" 2>&1 &
  pids+=($!)
  names+=("$name")
  logs+=("$log")
}

echo "==> Test run: SQLite"
"$PY" -m pytest "$@"
sqlite_rc=$?
if [ $sqlite_rc -ne 0 ]; then
  echo "==> SQLite run FAILED (pytest exit code $sqlite_rc)" >&2
  exit $sqlite_rc
fi

logdir=$(mktemp -d)
# Leaving early (a required server missing, Ctrl-C) stops the runs started, with their children.
stop_runs() {
  local pid
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null; done
  rm -rf "$logdir"
}
trap stop_runs EXIT

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
  skip "MySQL/MariaDB" ZCRM_REQUIRE_MYSQL "$mysql_problem" \
    "Start MariaDB on 127.0.0.1:3306 (root, empty password, or set ZCRM_MYSQL_USER/PASSWORD)."
else
  start "MySQL/MariaDB" mysql "$logdir/mysql.log" "$@"
fi

pg_problem=$("$PY" - <<'PYEOF'
import os
try:
    import psycopg
except ImportError:
    print("the psycopg package is not installed (pip install -e '.[test,postgres]')")
    raise SystemExit
try:
    psycopg.connect(host=os.environ.get("ZCRM_PG_HOST", "127.0.0.1"),
                    port=int(os.environ.get("ZCRM_PG_PORT", "5432")),
                    user=os.environ.get("ZCRM_PG_USER", "postgres"),
                    password=os.environ.get("ZCRM_PG_PASSWORD", ""),
                    dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"no PostgreSQL server accepted a connection ({' '.join(str(exc).split())})")
PYEOF
)
if [ -n "$pg_problem" ]; then
  skip "PostgreSQL" ZCRM_REQUIRE_POSTGRES "$pg_problem" \
    "Start PostgreSQL on 127.0.0.1:5432 (user postgres, or set ZCRM_PG_USER/PASSWORD)."
else
  start "PostgreSQL" postgres "$logdir/postgres.log" "$@"
fi

failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  rc=$?
  echo ""
  echo "==> Test run: ${names[$i]} (its output follows)"
  cat "${logs[$i]}"
  if [ $rc -ne 0 ]; then
    echo "==> ${names[$i]} run FAILED (pytest exit code $rc)" >&2
    failed+=("${names[$i]}")
  else
    passed+=("${names[$i]}")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "==> FAILED: ${failed[*]}" >&2
  exit 1
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "==> Passed: ${passed[*]}. SKIPPED: ${skipped[*]} (see the banners above)."
else
  echo "==> All runs passed (SQLite, MySQL/MariaDB and PostgreSQL)."
fi
