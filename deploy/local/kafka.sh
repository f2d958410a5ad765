#!/usr/bin/env bash
# Apache Kafka 4.x, single node in KRaft mode (broker and controller in one JVM), from Maven Central.
#
#   deploy/local/kafka.sh install   collect the broker jars (Maven, cached in ~/.m2)
#   deploy/local/kafka.sh start     install if needed, format storage once, start, wait for the port
#   deploy/local/kafka.sh stop | status
#
# KAFKA_INSTANCE (default "kafka"), KAFKA_PORT (9092) and KAFKA_CONTROLLER_PORT (9093) select the
# instance, so that tests can run a second, throwaway broker beside the main one.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INSTANCE="${KAFKA_INSTANCE:-kafka}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${KAFKA_HEAP:-1g}"
POM="$II_ROOT/deploy/local/kafka/pom.xml"
LIBS="$II_HOME/kafka/libs"
DATA="$II_HOME/$INSTANCE/data"
CONF="$II_HOME/$INSTANCE/server.properties"
LOG="$II_LOGS/$INSTANCE.log"

install() {
  command -v java >/dev/null || die "Java 17+ is needed for Kafka: apt-get install openjdk-17-jre-headless"
  command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka jars: apt-get install maven"
  local stamp; stamp="$(sha256sum "$POM" | cut -c1-16)"
  if [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$stamp" ]]; then
    return 0
  fi
  say "collecting Kafka broker jars from Maven Central (first run: a minute or two)"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -B -ntp -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS" \
    | grep --line-buffered -E 'Downloaded from|BUILD|ERROR' | sed -u 's/^/    /' >&2 || true
  ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Kafka jars missing after Maven; see the output above"
  echo "$stamp" > "$LIBS/.complete"
  say "Kafka jars ready: $(ls "$LIBS" | wc -l) files in $LIBS"
}

write_config() {
  mkdir -p "$DATA"
  cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=67108864
PROPS
}

java_cmd() {
  java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$II_ROOT/deploy/local/kafka/log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

# A cluster id is 16 random bytes in URL-safe base64 without padding: 22 characters.
valid_cluster_id() { [[ "$1" =~ ^[A-Za-z0-9_-]{22}$ ]]; }

# new_cluster_id: prints a fresh cluster id. The storage tool logs to stdout before printing the id
# (log4j's console appender), so only the line that is an id is kept; the log goes to the log file.
new_cluster_id() {
  local out line
  out="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOG")" || return 1
  while IFS= read -r line; do
    if valid_cluster_id "$line"; then echo "$line"; return 0; fi
    printf '%s\n' "$line" >>"$LOG"
  done <<<"$out"
  return 1
}

start() {
  if is_running "$INSTANCE"; then
    say "$INSTANCE already running on 127.0.0.1:$PORT"
    return 0
  fi
  port_open 127.0.0.1 "$PORT" && die "port $PORT is taken by another process; stop it or set KAFKA_PORT"
  install
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local id_file="$II_HOME/$INSTANCE/cluster.id" cluster_id=""
    [[ -f "$id_file" ]] && cluster_id="$(cat "$id_file")"
    if ! valid_cluster_id "$cluster_id"; then
      cluster_id="$(new_cluster_id)" || die "the Kafka storage tool gave no cluster id; see $LOG"
      echo "$cluster_id" > "$id_file"
    fi
    say "formatting $INSTANCE storage (cluster $cluster_id)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" --ignore-formatted >>"$LOG" 2>&1 \
      || die "formatting Kafka storage failed; see $LOG"
  fi
  local stored_id
  stored_id="$(sed -n 's/^cluster\.id=//p' "$DATA/meta.properties")"
  valid_cluster_id "$stored_id" || warn "$INSTANCE storage was formatted with a malformed cluster id (a log line" \
    "captured with it by an older version of this script); the broker runs, but tools that show the id show" \
    "that line. To start clean (the topics are lost): $0 stop && rm -rf $DATA $II_HOME/$INSTANCE/cluster.id"
  say "starting $INSTANCE on 127.0.0.1:$PORT (log: $LOG)"
  start_daemon "$INSTANCE" "$LOG" java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$II_ROOT/deploy/local/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$CONF"
  wait_for "Kafka on :$PORT" 90 port_open 127.0.0.1 "$PORT" \
    || { tail -30 "$LOG" >&2; die "Kafka did not start; the log above says why"; }
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop_daemon "$INSTANCE" ;;
  status) is_running "$INSTANCE" && echo "$INSTANCE running on 127.0.0.1:$PORT" || { echo "$INSTANCE stopped"; exit 1; } ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
