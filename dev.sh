#!/usr/bin/env bash
# Kede's two everyday commands, from a fresh clone with only Python 3.11 on the machine:
#   ./dev.sh start [--port N]   install, prepare the embedded default with the demo, and serve
#   ./dev.sh test [pytest args] install, then run the whole suite on SQLite and on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")"

PG_URL="${KEDE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
  say "installing $* from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Kede needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local py stamp
  py=$(find_python)
  [ -x .venv/bin/python ] || { say "creating .venv"; "$py" -m venv .venv; }
  stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat .venv/.kede-installed 2>/dev/null)" != "$stamp" ]; then
    say "installing Kede and its pinned dependencies"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$stamp" > .venv/.kede-installed
  fi
}

ensure_test_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v msgfmt >/dev/null || missing+=(gettext)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

postgres_up() {
  .venv/bin/python - "$PG_URL" <<'PY' 2>/dev/null
import sys, psycopg
psycopg.connect(sys.argv[1].replace("postgres://", "postgresql://"), connect_timeout=3).close()
PY
}

ensure_postgres() {
  postgres_up && return 0
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "kede-test" "$hba"; then
    # Local tests connect as postgres over loopback without a password, as on CI machines.
    as_root sed -i '1i host all all 127.0.0.1/32 trust # kede-test' "$hba"
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
  postgres_up || { echo "PostgreSQL did not come up at $PG_URL" >&2; return 1; }
}

pg_query() {
  .venv/bin/python - "$PG_URL" "$1" <<'PY' 2>/dev/null
import sys, psycopg
with psycopg.connect(sys.argv[1].replace("postgres://", "postgresql://"), connect_timeout=3) as c:
    row = c.execute(sys.argv[2]).fetchone()
    print(row[0] if row else "")
PY
}

ensure_rum() {
  # The RUM index (ranked full-text search) is one of the PostgreSQL engine's two index kinds;
  # its tests need the extension in the local server.
  [ -n "$(pg_query "select 1 from pg_available_extensions where name = 'rum'")" ] && return 0
  command -v pg_ctlcluster >/dev/null || { echo "no RUM extension; its tests are skipped" >&2; return 0; }
  local major
  major=$(pg_query "select current_setting('server_version_num')::int / 10000") || return 0
  apt_install "postgresql-$major-rum" || echo "postgresql-$major-rum not installed; RUM tests are skipped" >&2
}

cmd_start() {
  ensure_venv
  .venv/bin/kede demo
  exec .venv/bin/kede serve "$@"
}

cmd_test() {
  ensure_venv
  ensure_test_tools
  ensure_postgres
  ensure_rum
  local status=0
  say "test suite on SQLite"
  env -u DATABASE_URL .venv/bin/python -m pytest "$@" || status=$?
  say "test suite on PostgreSQL ($PG_URL)"
  DATABASE_URL="$PG_URL" .venv/bin/python -m pytest "$@" || status=$?
  return $status
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: ./dev.sh start [--port N] | ./dev.sh test [pytest args]" >&2; exit 2 ;;
esac
