# shellcheck shell=bash
# scripts/stack-lib/postgres.sh: the private PostgreSQL 15 cluster that FerretDB's
# PostgreSQL backend stores its data in (sourced by scripts/stack).
#
# One cluster per stack instance under $DATA/postgres, its unix socket in
# $RUN/pg, listening on 127.0.0.1 only with trust auth (a dev box: nothing but
# local processes can reach it). initdb and postgres refuse to run as root, so
# as root they run as an unprivileged system user (created once); as anyone
# else they run as that user.

PG_DIR="$DATA/postgres"                               # PGDATA
PG_SOCK="$RUN/pg"                                     # unix_socket_directories
PG_PORT_FILE="$DATA/postgres.port"                    # the port the cluster was given
PG_READY_FILE="$DATA/postgres.ready"                  # initdb finished and hba written
PG_OS_USER="${AGENTSTATE_STACK_PG_USER:-agentstate-pg}" # who runs the cluster when we are root
PG_FIRST_PORT=15432
PG_DATABASE="ferretdb"

# The server binaries: $AGENTSTATE_STACK_PG_BIN, Debian's PostgreSQL 15, else
# any Debian PostgreSQL found (FerretDB 1.24 supports 15 and later).
pg_bindir() {
  local d
  for d in "${AGENTSTATE_STACK_PG_BIN:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [[ -n "$d" && -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_isready" && -x "$d/psql" ]] && { echo "$d"; return 0; }
  done
  return 1
}

install_postgres() {
  pg_bindir >/dev/null && return 0
  apt_install postgresql-15 || apt_install postgresql || true
  pg_bindir >/dev/null || die "no PostgreSQL server binaries after apt-get install (set AGENTSTATE_STACK_PG_BIN to a bin/ holding postgres and initdb)"
}

# The port: the override, else the one this cluster was given at its first
# start, else (not yet recorded) empty.
pg_port() {
  if [[ -n "${AGENTSTATE_STACK_PG_PORT:-}" ]]; then echo "$AGENTSTATE_STACK_PG_PORT"
  elif [[ -f "$PG_PORT_FILE" ]]; then cat "$PG_PORT_FILE"
  fi
}

# Give the cluster a port once: the override, else the first free one from
# 15432, so a private instance gets its own without configuration.
pg_assign_port() {
  local p
  p="$(pg_port)"
  if [[ -z "$p" ]]; then
    p=$PG_FIRST_PORT
    while port_open "$p" || pg_port_recorded_elsewhere "$p"; do p=$((p + 1)); done
  fi
  [[ "$p" =~ ^[0-9]+$ ]] || die "AGENTSTATE_STACK_PG_PORT must be a port number, got '$p'"
  echo "$p" >"$PG_PORT_FILE"
}

# A stopped instance's cluster keeps its port: do not hand it to another.
pg_port_recorded_elsewhere() {
  local f
  for f in "$STACK_DIR/data/postgres.port" "$STACK_DIR"/instances/*/data/postgres.port; do
    [[ -f "$f" && "$f" != "$PG_PORT_FILE" && "$(cat "$f")" == "$1" ]] && return 0
  done
  return 1
}

pg_url() { echo "postgres://postgres@127.0.0.1:$(pg_port)/$PG_DATABASE"; }

# ---------------------------------------------------------------- who runs it

pg_root() { [[ "$(id -u)" == 0 ]]; }

ensure_pg_user() {
  pg_root || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  need_cmd useradd "creating the system user that runs PostgreSQL (it refuses to run as root)"
  say "creating system user $PG_OS_USER to run PostgreSQL (it refuses to run as root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
}

# Fills PG_AS with the command prefix that runs a PostgreSQL binary as the
# cluster's owner (empty when we are not root).
PG_AS=()
pg_as_prefix() {
  PG_AS=()
  pg_root || return 0
  need_cmd setpriv "switching to $PG_OS_USER (util-linux)"
  PG_AS=(setpriv "--reuid=$PG_OS_USER" "--regid=$PG_OS_USER" --init-groups)
  # The stack dir may sit under a home that user cannot traverse (/root is
  # 0700). Rather than loosen the home's mode, give the server only
  # CAP_DAC_READ_SEARCH (read and search, never write): its own directories
  # are owned by it, so that is enough to reach them.
  if ! "${PG_AS[@]}" -- test -x "$DATA" -a -x "$RUN" 2>/dev/null; then
    PG_AS+=(--inh-caps=+dac_read_search --ambient-caps=+dac_read_search)
  fi
  PG_AS+=(--)
}

# pg_own DIR...: make the cluster's directories its owner's.
pg_own() {
  pg_root || return 0
  chown "$PG_OS_USER:$PG_OS_USER" "$@"
}

# ---------------------------------------------------------------- cluster

pg_init() {
  [[ -f "$PG_READY_FILE" && -f "$PG_DIR/PG_VERSION" ]] && return 0
  local bin; bin="$(pg_bindir)"
  # No ready marker: a previous initdb did not finish; its directory holds no data.
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  chmod 700 "$PG_DIR"
  pg_own "$PG_DIR"
  say "initialising a PostgreSQL cluster in $PG_DIR"
  # Data checksums: a corrupt page is reported, not served. C locale: byte
  # order, as MongoDB compares strings, and no dependence on installed locales.
  "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR" --username=postgres --auth=trust --encoding=UTF8 --locale=C \
    --data-checksums >"$LOGS/postgres-initdb.log" 2>&1 \
    || { tail -n 30 "$LOGS/postgres-initdb.log" >&2; die "initdb failed (log: $LOGS/postgres-initdb.log)"; }
  # Trust, but only over the socket (inside the stack dir) and 127.0.0.1.
  printf '%s\n' '# written by scripts/stack: local connections only' \
    'local all all trust' 'host all all 127.0.0.1/32 trust' \
    | "${PG_AS[@]}" tee "$PG_DIR/pg_hba.conf" >/dev/null
  touch "$PG_READY_FILE"
}

# Settings for a dev box shared with Kafka and friends: small memory, but the
# durability defaults kept (fsync, synchronous_commit, full_page_writes on),
# since durability is what agentstate sells and a benchmark without it lies.
pg_settings() {
  local sock="$PG_SOCK"
  # A unix socket path is limited to ~107 bytes; a deep stack dir goes TCP only.
  (( ${#sock} > 90 )) && sock=""
  printf -- '-c\n%s\n' \
    "listen_addresses=127.0.0.1" "port=$(pg_port)" "unix_socket_directories=$sock" \
    "max_connections=100" "shared_buffers=64MB" "work_mem=8MB" "maintenance_work_mem=64MB" \
    "effective_cache_size=512MB" "fsync=on" "synchronous_commit=on" "full_page_writes=on" \
    "wal_level=minimal" "max_wal_senders=0" "max_wal_size=512MB" "checkpoint_timeout=5min" \
    "jit=off" "timezone=UTC" "log_timezone=UTC" "logging_collector=off" \
    "log_min_messages=warning" "log_min_duration_statement=2000" "log_line_prefix=%m [%p] "
}

start_postgres() {
  pid_of postgres >/dev/null && return 0
  local bin; bin="$(pg_bindir)"
  ensure_pg_user
  pg_as_prefix
  mkdir -p "$RUN" "$DATA" "$LOGS"
  pg_assign_port
  port_open "$(pg_port)" && die "port $(pg_port) is taken by a process this script did not start (set AGENTSTATE_STACK_PG_PORT)"
  mkdir -p "$PG_SOCK"
  pg_own "$PG_SOCK"
  pg_init
  local settings=()
  mapfile -t settings < <(pg_settings)
  start_proc postgres "${PG_AS[@]}" "$bin/postgres" -D "$PG_DIR" "${settings[@]}"
}

postgres_healthy() { "$(pg_bindir)/pg_isready" -q -U postgres -h 127.0.0.1 -p "$(pg_port)" -t 2 2>/dev/null; }

# FerretDB keeps every MongoDB database as a schema of one PostgreSQL database.
ensure_pg_database() {
  local bin; bin="$(pg_bindir)"
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$(pg_port)" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA)
  [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" == 1 ]] && return 0
  "${psql[@]}" -c "CREATE DATABASE $PG_DATABASE" >/dev/null || fail_start postgres "could not create database $PG_DATABASE"
}
