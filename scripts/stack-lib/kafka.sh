# shellcheck shell=bash
# scripts/stack-lib/kafka.sh: Apache Kafka (KRaft, combined broker+controller) from Maven Central jars.

install_kafka() {
  local dir="$DIST/kafka-$KAFKA_VERSION"
  [[ -f "$dir/.complete" ]] && return 0
  need_cmd mvn "Maven fetches Kafka's jars from Maven Central"
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
  rm -rf "$dir"; mkdir -p "$dir"
  mvn -q -B -f "$LIB/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs" \
    >"$dir/mvn.log" 2>&1 || { tail -n 30 "$dir/mvn.log" >&2; die "maven could not fetch Kafka"; }
  touch "$dir/.complete"
}

kafka_brokers_file() { echo "$RUN/kafka.brokers"; }

kafka_count() { cat "$(kafka_brokers_file)" 2>/dev/null || echo 1; }

kafka_client_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }

kafka_controller_port() { echo $((KAFKA_PORT + 2 * ($1 - 1) + 1)); }

kafka_bootstrap() {
  local n i out=""
  n="$(kafka_count)"
  for ((i = 1; i <= n; i++)); do out+="${out:+,}127.0.0.1:$(kafka_client_port "$i")"; done
  echo "$out"
}

kafka_cp() { echo "$DIST/kafka-$KAFKA_VERSION/libs/*"; }

kafka_config() { # kafka_config ID N
  local id="$1" n="$2" i voters=""
  for ((i = 1; i <= n; i++)); do voters+="${voters:+,}127.0.0.1:$(kafka_controller_port "$i")"; done
  local rf=$(( n >= 3 ? 3 : 1 )) isr=$(( n >= 3 ? 2 : 1 ))
  cat <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.bootstrap.servers=$voters
listeners=PLAINTEXT://127.0.0.1:$(kafka_client_port "$id"),CONTROLLER://127.0.0.1:$(kafka_controller_port "$id")
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_client_port "$id")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA/kafka-$id
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# Lets tests and a dev projector use short sessions (a killed member is dropped sooner); clients still choose.
group.min.session.timeout.ms=1000
auto.create.topics.enable=false
log.retention.hours=-1
EOF
}

start_kafka() {
  local n="$1" id java
  java="$(find_java 17)" || die "Kafka needs Java 17+; none found"
  # A running cluster of another size is not reused: its data layout differs.
  if [[ -f "$(kafka_brokers_file)" && "$(kafka_count)" != "$n" ]] && pid_of kafka-1 >/dev/null; then
    die "Kafka is running with $(kafka_count) broker(s); run 'scripts/stack down' before 'up --kafka-brokers $n'"
  fi
  mkdir -p "$RUN"; echo "$n" >"$(kafka_brokers_file)"
  local cluster_file="$DATA/kafka-cluster-$n.id" cluster initial=""
  if [[ ! -f "$cluster_file" ]]; then
    mkdir -p "$DATA"
    "$java" -cp "$(kafka_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null >"$cluster_file"
  fi
  cluster="$(cat "$cluster_file")"
  if (( n > 1 )); then
    for ((id = 1; id <= n; id++)); do
      local dirid_file="$DATA/kafka-$id.dirid"
      [[ -f "$dirid_file" ]] || "$java" -cp "$(kafka_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null >"$dirid_file"
      initial+="${initial:+,}$id@127.0.0.1:$(kafka_controller_port "$id"):$(cat "$dirid_file")"
    done
  fi
  for ((id = 1; id <= n; id++)); do
    local name="kafka-$id" conf="$DATA/kafka-$id.properties"
    pid_of "$name" >/dev/null && continue
    port_open "$(kafka_client_port "$id")" && die "port $(kafka_client_port "$id") is taken by a process this script did not start"
    kafka_config "$id" "$n" >"$conf"
    if [[ ! -f "$DATA/kafka-$id/meta.properties" ]]; then
      local fmt=(--standalone)
      (( n > 1 )) && fmt=(--initial-controllers "$initial")
      "$java" -cp "$(kafka_cp)" -Dlog4j2.configurationFile="$LIB/kafka/log4j2.properties" \
        kafka.tools.StorageTool format "${fmt[@]}" -t "$cluster" -c "$conf" >"$LOGS/$name-format.log" 2>&1 \
        || { cat "$LOGS/$name-format.log" >&2; die "could not format Kafka storage for broker $id"; }
    fi
    start_proc "$name" "$java" "-Xms256m" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LIB/kafka/log4j2.properties" -Dagentstate.stack="$STACK_DIR" \
      -cp "$(kafka_cp)" kafka.Kafka "$conf"
  done
}

kafka_healthy_one() { port_open "$(kafka_client_port "$1")" && grep -q "Kafka Server started" "$LOGS/kafka-$1.log" 2>/dev/null; }

wait_kafka() {
  local id n; n="$(kafka_count)"
  for ((id = 1; id <= n; id++)); do
    wait_for "kafka-$id" 120 kafka_healthy_one "$id"
  done
}
