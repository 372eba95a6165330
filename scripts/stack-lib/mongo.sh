# shellcheck shell=bash
# scripts/stack-lib/mongo.sh: FerretDB v1 (MongoDB wire protocol), built from
# the Go module proxy, on PostgreSQL (default) or SQLite (sourced by scripts/stack).

MONGO_BACKEND_FILE="$RUN/mongo.backend"
MONGO_BACKEND="" # set by resolve_mongo_backend

# The binary's name carries a hash of its source, so a change to main.go rebuilds it.
ferretdb_bin() { echo "$BIN/agentstate-ferretdb-$FERRETDB_VERSION-$(sha256sum "$LIB/ferretdb/main.go" | cut -c1-8)"; }

install_mongo() {
  local out
  out="$(ferretdb_bin)"
  [[ -x "$out" ]] && return 0
  need_cmd go "Go builds FerretDB from the Go module proxy"
  say "building FerretDB $FERRETDB_VERSION from the Go module proxy"
  mkdir -p "$BIN"
  (cd "$LIB/ferretdb" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" .) >"$BIN/ferretdb-build.log" 2>&1 \
    || { tail -n 30 "$BIN/ferretdb-build.log" >&2; die "could not build FerretDB"; }
  mv "$out.tmp" "$out"
}

# The backend of a running FerretDB, as recorded when it started (a FerretDB
# started before the backend was recorded ran on SQLite).
mongo_running_backend() { cat "$MONGO_BACKEND_FILE" 2>/dev/null || echo sqlite; }

# resolve_mongo_backend [REQUESTED]: the flag, else $AGENTSTATE_STACK_MONGO_BACKEND,
# else the running FerretDB's, else postgresql. A running FerretDB on another
# backend is not switched under its clients' feet.
resolve_mongo_backend() {
  local want="${1:-${AGENTSTATE_STACK_MONGO_BACKEND:-}}" cur
  if pid_of mongo >/dev/null; then
    cur="$(mongo_running_backend)"
    [[ -z "$want" || "$want" == "$cur" ]] \
      || die "FerretDB is running on $cur; run 'scripts/stack down --only mongo' before 'up --mongo-backend $want'"
    want="$cur"
  fi
  want="${want:-postgresql}"
  case "$want" in
    postgresql|sqlite) MONGO_BACKEND="$want";;
    *) die "--mongo-backend must be postgresql or sqlite, got '$want'";;
  esac
}

# For status/down: the backend in use, without deciding anything.
current_mongo_backend() {
  if pid_of mongo >/dev/null; then mongo_running_backend
  elif pid_of postgres >/dev/null; then echo postgresql
  else echo "${AGENTSTATE_STACK_MONGO_BACKEND:-postgresql}"; fi
}

mongo_uri() { echo "mongodb://127.0.0.1:$MONGO_PORT/"; }
mongo_healthy() { port_open "$MONGO_PORT"; }

# Before the other servers come up: PostgreSQL takes a few seconds, so start it early.
start_mongo_backend() {
  [[ "$MONGO_BACKEND" == postgresql ]] && start_postgres
  return 0
}

# After the backend is healthy: FerretDB itself.
start_mongo() {
  if [[ "$MONGO_BACKEND" == postgresql ]]; then
    wait_for postgres 60 postgres_healthy
    ensure_pg_database
  fi
  pid_of mongo >/dev/null && return 0
  port_open "$MONGO_PORT" && die "port $MONGO_PORT is taken by a process this script did not start"
  # -sqlite-dir is given on PostgreSQL too: the binary creates it either way.
  mkdir -p "$DATA/mongo"
  local args=(-listen "127.0.0.1:$MONGO_PORT" -sqlite-dir "$DATA/mongo")
  [[ "$MONGO_BACKEND" == postgresql ]] && args+=(-postgresql-url "$(pg_url)")
  start_proc mongo "$(ferretdb_bin)" "${args[@]}"
  echo "$MONGO_BACKEND" >"$MONGO_BACKEND_FILE"
}

stop_mongo() {
  stop_one mongo
  rm -f "$MONGO_BACKEND_FILE"
  # SIGINT is PostgreSQL's fast shutdown: clients are cut, a checkpoint is
  # written, nothing committed is lost (SIGTERM would wait for clients).
  stop_one postgres INT
}
