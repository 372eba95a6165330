# shellcheck shell=bash
# scripts/stack-lib/common.sh: process, port and install helpers every server uses (sourced by scripts/stack).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A pid file holds "PID STARTTIME" of a process we started. It is ours only if
# that pid is alive with the same start time (guards against pid reuse).
# Field 3 is the state: a zombie (Z) or dead (X) process is not running.
# (The command name in field 2 may hold spaces: count fields after its ')'.)
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '$1 != "Z" && $1 != "X" {print $20}'; }

pid_of() {
  local f="$RUN/$1.pid" pid start
  [[ -f "$f" ]] || return 1
  read -r pid start <"$f" || true
  [[ -n "$pid" && -n "$start" && "$(proc_start "$pid")" == "$start" ]] || return 1
  echo "$pid"
}

# start_proc NAME CMD...: detach, log to logs/NAME.log, record the pid.
start_proc() {
  local name="$1" pid; shift
  mkdir -p "$RUN" "$LOGS"
  : >"$LOGS/$name.log"
  # 9>&- : the server must not inherit the lock that `up` holds.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid $(proc_start "$pid")" >"$RUN/$name.pid"
}

fail_start() {
  local name="$1" why="$2"
  say "$name failed to start: $why"
  say "last lines of $LOGS/$name.log:"
  tail -n 40 "$LOGS/$name.log" >&2 || true
  exit 1
}

# wait_for NAME TIMEOUT_S CHECK [ARG...]: until CHECK ARG... succeeds, or fail the start.
wait_for() {
  local name="$1" timeout="$2" waited=0
  shift 2
  while ! "$@"; do
    pid_of "$name" >/dev/null || fail_start "$name" "process exited"
    (( waited >= timeout * 2 )) && fail_start "$name" "not healthy after ${timeout}s"
    sleep 0.5; waited=$((waited + 1))
  done
}

stop_one() { # stop_one NAME [SIGNAL]: SIGNAL (default TERM), then KILL after 30 s
  local name="$1" sig="${2:-TERM}" pid i
  pid="$(pid_of "$name")" || { rm -f "$RUN/$name.pid"; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then say "$name (pid $pid) ignored SIG$sig for 30s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$RUN/$name.pid"
  say "stopped $name (pid $pid)"
}

status_line() { # status_line NAME ENDPOINT CHECK [ARG...]
  local name="$1" endpoint="$2" pid
  shift 2
  if ! pid="$(pid_of "$name")"; then
    printf '%-10s down     %s (not running)\n' "$name" "$endpoint"; return 1
  fi
  if "$@"; then printf '%-10s up       %s (pid %s)\n' "$name" "$endpoint" "$pid"
  else printf '%-10s unhealthy %s (pid %s, health check failed)\n' "$name" "$endpoint" "$pid"; return 1; fi
}

find_java() { # find_java MIN_MAJOR: print a java binary with at least that major version
  local min="$1" cand v
  for cand in "${AGENTSTATE_STACK_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    v="$("$cand" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
    [[ -n "$v" ]] && (( v >= min )) && { echo "$cand"; return 0; }
  done
  return 1
}

need_cmd() { command -v "$1" >/dev/null || die "$1 is required: $2"; }

apt_install() {
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  say "installing $* with apt-get"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
