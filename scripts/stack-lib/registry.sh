# shellcheck shell=bash
# scripts/stack-lib/registry.sh: Apicurio Registry 3 (Confluent-compatible API), H2 on disk.

registry_java() { find_java 21 || true; }

install_registry() {
  local ver="$APICURIO_VERSION"
  [[ -n "$(registry_java)" ]] || ver="$APICURIO_FALLBACK_VERSION"
  local dir="$DIST/apicurio-$ver"
  [[ -f "$dir/.complete" ]] && return 0
  need_cmd mvn "Maven fetches Apicurio Registry from Maven Central"
  say "fetching Apicurio Registry $ver from Maven Central"
  rm -rf "$dir"; mkdir -p "$dir"
  mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$ver:tar.gz:all" \
    -DoutputDirectory="$dir" >"$dir/mvn.log" 2>&1 \
    || { tail -n 30 "$dir/mvn.log" >&2; die "maven could not fetch Apicurio Registry"; }
  tar xzf "$dir"/apicurio-registry-app-*.tar.gz -C "$dir"
  rm -f "$dir"/apicurio-registry-app-*.tar.gz
  touch "$dir/.complete"
}

registry_url() { echo "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"; }

registry_healthy() { curl -fsS -m 2 "$(registry_url)/subjects" >/dev/null 2>&1; }

start_registry() {
  pid_of registry >/dev/null && return 0
  port_open "$REGISTRY_PORT" && die "port $REGISTRY_PORT is taken by a process this script did not start"
  local java ver jar
  java="$(registry_java)"
  if [[ -n "$java" ]]; then ver="$APICURIO_VERSION"; jar="$DIST/apicurio-$ver/quarkus-run.jar"
  else java="$(find_java 17)" || die "the registry needs Java 17+"; ver="$APICURIO_FALLBACK_VERSION"
       jar="$DIST/apicurio-$ver/apicurio-registry-app-$ver-runner.jar"; fi
  mkdir -p "$DATA/registry"
  # H2 on disk, so schema ids stay valid for the Kafka data across restarts.
  start_proc registry "$java" "-Xmx$REGISTRY_HEAP" -XX:+UseSerialGC -Dagentstate.stack="$STACK_DIR" \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$((REGISTRY_PORT + 1)) \
    -Dapicurio.datasource.url="jdbc:h2:file:$DATA/registry/registry" \
    -Dquarkus.log.level=WARN -jar "$jar"
}
