# shellcheck shell=bash
# scripts/stack-lib/redis.sh: Debian's redis-server.

install_redis() {
  command -v redis-server >/dev/null && return 0
  apt_install redis-server
  command -v redis-server >/dev/null || die "redis-server is still missing after apt-get install"
}

redis_url() { echo "redis://127.0.0.1:$REDIS_PORT"; }

redis_healthy() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; }

start_redis() {
  pid_of redis >/dev/null && return 0
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this script did not start"
  mkdir -p "$DATA/redis"
  start_proc redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" \
    --save 60 1000 --appendonly no --daemonize no --protected-mode yes
}
