# Sourced by .ci/run: a throwaway PostgreSQL cluster for the study-storage tests.
#   start_test_postgres   installs Debian's postgresql if needed, initdb's a cluster in a fresh temp folder as the
#                         postgres user, starts it on the first free port from 54329 (127.0.0.1 only, unix socket in
#                         the temp folder, password auth over TCP) and exports DEEPLEARNING_TEST_POSTGRES.
#   stop_test_postgres    stops it and removes the folder (safe to call twice, or when nothing was started).
# Each run has its own folder and port, so two runs on one machine (or a leftover cluster) never collide.

DL_PG_DIR=""
DL_PG_BIN=""

_dl_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

start_test_postgres() {
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || ! id postgres >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  fi
  DL_PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  DL_PG_DIR="$(mktemp -d /tmp/deeplearning-pg.XXXXXX)"
  chmod 755 "$DL_PG_DIR"
  chown postgres "$DL_PG_DIR"
  local password port
  password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" > "$DL_PG_DIR/pw"
  chown postgres "$DL_PG_DIR/pw"
  _dl_as_postgres "$DL_PG_BIN/initdb" -D "$DL_PG_DIR/data" -U postgres --pwfile="$DL_PG_DIR/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$DL_PG_DIR/initdb.log" 2>&1 \
    || { cat "$DL_PG_DIR/initdb.log" >&2; return 1; }
  rm -f "$DL_PG_DIR/pw"
  port=54329
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || [ -e "/tmp/.s.PGSQL.$port.lock" ]; do port=$((port + 1)); done
  _dl_as_postgres "$DL_PG_BIN/pg_ctl" -D "$DL_PG_DIR/data" -l "$DL_PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $DL_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null \
    || { cat "$DL_PG_DIR/server.log" >&2; return 1; }
  export DEEPLEARNING_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=postgres;Password=$password;Database=postgres"
  echo "PostgreSQL $("$DL_PG_BIN/postgres" --version | awk '{print $3}') test cluster on 127.0.0.1:$port ($DL_PG_DIR)"
}

stop_test_postgres() {
  if [ -n "$DL_PG_DIR" ] && [ -d "$DL_PG_DIR/data" ]; then
    _dl_as_postgres "$DL_PG_BIN/pg_ctl" -D "$DL_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$DL_PG_DIR" ]; then rm -rf "$DL_PG_DIR"; fi
  DL_PG_DIR=""
}
