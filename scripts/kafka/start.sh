#!/usr/bin/env bash
# Start a single-node Apache Kafka 4.x broker (KRaft, broker+controller in one JVM)
# from Maven Central jars, bound to 127.0.0.1 only.
#
#   scripts/kafka/start.sh [--port 9092] [--controller-port 9093] [--data-dir DIR]
#                          [--timeout SECONDS] [--advertised-port PORT]
#
# --advertised-port makes the broker tell clients to reach it at 127.0.0.1:PORT instead of
# its own port, e.g. a test's TCP proxy that forwards to --port: every client connection
# then goes through it. Whatever listens there must forward before the start, since the
# readiness check connects to the advertised address too.
#
# On success prints, on stdout, lines that can be eval'ed:
#   KAFKA_BOOTSTRAP=127.0.0.1:9092
#   KAFKA_DATA_DIR=/tmp/gamestream-kafka.XXXXXX
#   KAFKA_PID=12345
#   KAFKA_ADVERTISED=127.0.0.1:PORT   (only with --advertised-port)
# Progress goes to stderr. Stop it with scripts/kafka/stop.sh --data-dir DIR
#
# First use fetches the jars (about 45 MB) with Maven into
#   ${GAMESTREAM_CACHE:-~/.cache/gamestream}/kafka/<version>/lib
# and later runs reuse them.
#
# Environment:
#   KAFKA_VERSION   Kafka version (default 4.4.0; any 4.x on Maven Central)
#   KAFKA_HEAP      heap size for -Xms/-Xmx (default 512m)
#   KAFKA_CDS       1 (default) / 0: use a cached AppCDS class-data archive for the
#                   broker and the CLI tools. The first run records it (the broker's
#                   archive is written when it is stopped with SIGTERM, and stop.sh
#                   installs it); later starts take ~2.5 s instead of ~5 s.
#   JAVA            java binary (default: $JAVA_HOME/bin/java or java)
#   MVN             maven binary (default: mvn)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICE=kafka
source "$SCRIPT_DIR/../lib/service.sh"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_CDS="${KAFKA_CDS:-1}"
CACHE_DIR="$CACHE_ROOT/kafka/$KAFKA_VERSION"
LIB_DIR="$CACHE_DIR/lib"
JAVA="$(java_bin)"
MVN="${MVN:-mvn}"

PORT=9092
CPORT=9093
DATA_DIR=""
TIMEOUT=90
ADV_PORT=""

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --controller-port) CPORT="$2"; shift 2 ;;
    --controller-port=*) CPORT="${1#*=}"; shift ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    --advertised-port) ADV_PORT="$2"; shift 2 ;;
    --advertised-port=*) ADV_PORT="${1#*=}"; shift ;;
    -h|--help) usage ;;
    *) echo "start.sh: unknown argument: $1" >&2; usage ;;
  esac
done

# ---------------------------------------------------------------- jars
fetch_jars() {
  if [[ -f "$LIB_DIR/.complete" && -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent first starts.
  exec 8>"$CACHE_DIR/.lock"
  flock 8
  if [[ -f "$LIB_DIR/.complete" ]]; then exec 8>&-; return 0; fi
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB_DIR (first use)"
  local t0=$SECONDS tmp="$CACHE_DIR/lib.tmp.$$"
  rm -rf "$tmp"
  if ! "$MVN" -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp"
    log "maven fetch failed"
    exit 1
  fi
  if [[ ! -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    rm -rf "$tmp"; log "maven fetch did not produce kafka_2.13-$KAFKA_VERSION.jar"; exit 1
  fi
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR" "$CACHE_DIR/cds"   # class-data archives depend on the exact classpath
  mv "$tmp" "$LIB_DIR"
  exec 8>&-
  log "fetched $(ls "$LIB_DIR" | wc -l) jars in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- data dir, ports
if [[ -n "$DATA_DIR" && -f "$DATA_DIR/kafka.pid" ]]; then
  old_pid="$(cat "$DATA_DIR/kafka.pid")"
  if pid_is "$old_pid" 'kafka.Kafka'; then
    log "a broker is already running for $DATA_DIR (pid $old_pid); stop it first with scripts/kafka/stop.sh --data-dir $DATA_DIR"
    exit 1
  fi
  rm -f "$DATA_DIR/kafka.pid"
fi
require_free_ports "$PORT" "$CPORT"

if [[ -z "$DATA_DIR" ]]; then
  DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gamestream-kafka.XXXXXX")"
else
  mkdir -p "$DATA_DIR"
fi
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PID_FILE="$DATA_DIR/kafka.pid"
BROKER_LOG="$DATA_DIR/broker.log"
STDOUT_LOG="$DATA_DIR/kafka.out"
log "data dir: $DATA_DIR"

fetch_jars
CP="$LIB_DIR/*"

# ---------------------------------------------------------------- class-data sharing
# An AppCDS archive is valid only for the same JVM build and the same classpath:
# key it by `java -version` and keep it next to lib/ (a refetch deletes it).
BROKER_CDS=(); TOOL_CDS=(); TOOL_CDS_PART=""
rm -f "$DATA_DIR/cds-pending"
if [[ "$KAFKA_CDS" == 1 ]]; then
  CDS_DIR="$CACHE_DIR/cds/$("$JAVA" -version 2>&1 | md5sum | cut -c1-12)"
  mkdir -p "$CDS_DIR"
  if [[ -s "$CDS_DIR/broker.jsa" ]]; then
    BROKER_CDS=(-XX:SharedArchiveFile="$CDS_DIR/broker.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  else
    # Recorded at JVM exit; stop.sh moves it into place after a clean SIGTERM stop.
    part="$CDS_DIR/broker.jsa.$$.part"
    BROKER_CDS=(-XX:ArchiveClassesAtExit="$part" -Xlog:cds=off -Xlog:cds+dynamic=off)
    echo "$part $CDS_DIR/broker.jsa" >"$DATA_DIR/cds-pending"
  fi
  if [[ -s "$CDS_DIR/tools.jsa" ]]; then
    TOOL_CDS=(-XX:SharedArchiveFile="$CDS_DIR/tools.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  else
    TOOL_CDS_PART="$CDS_DIR/tools.jsa.$$.part"
  fi
fi

# ---------------------------------------------------------------- config
cat >"$DATA_DIR/server.properties" <<EOF
# Written by scripts/kafka/start.sh: single-node KRaft broker+controller on 127.0.0.1.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:${ADV_PORT:-$PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR/kraft-logs

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4
group.initial.rebalance.delay.ms=0

num.network.threads=2
num.io.threads=4
EOF

cat >"$DATA_DIR/log4j2.properties" <<EOF
# Written by scripts/kafka/start.sh: WARN and above to $BROKER_LOG
status = warn
name = gamestream-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $BROKER_LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
# Keep the startup/shutdown lines: they help to read a failed start.
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
# The group coordinator's decisions (joins, rebalances, members it drops) to their own file: a test that waits on
# a hand-over between consumers can then show what the broker decided, and when.
appender.groups.type = File
appender.groups.name = GROUPS
appender.groups.fileName = $DATA_DIR/groups.log
appender.groups.layout.type = PatternLayout
appender.groups.layout.pattern = [%d] %p %m%n
logger.groups.name = org.apache.kafka.coordinator.group
logger.groups.level = INFO
logger.groups.additivity = false
logger.groups.appenderRef.groups.ref = GROUPS
EOF

# CLI tools (StorageTool, TopicCommand): errors only, to stderr.
cat >"$DATA_DIR/tools-log4j2.properties" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.console.ref = STDERR
EOF

TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${TOOL_CDS[@]}"
          "-Dlog4j2.configurationFile=$DATA_DIR/tools-log4j2.properties" -cp "$CP")

# ---------------------------------------------------------------- format
if [[ ! -f "$DATA_DIR/kraft-logs/meta.properties" ]]; then
  # A Kafka Uuid: 16 random bytes, base64url without padding (22 chars).
  CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  log "formatting storage (cluster id $CLUSTER_ID)"
  "$JAVA" "${TOOL_JVM[@]}" kafka.tools.StorageTool format \
      --cluster-id="$CLUSTER_ID" -c "$DATA_DIR/server.properties" >"$DATA_DIR/format.out" 2>&1 || {
    log "storage format failed:"; cat "$DATA_DIR/format.out" >&2; exit 1; }
fi

# ---------------------------------------------------------------- start
T0=$(date +%s.%N)
nohup "$JAVA" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseSerialGC "${BROKER_CDS[@]}" \
    -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$DATA_DIR/log4j2.properties" \
    "-Dkafka.logs.dir=$DATA_DIR" \
    -cp "$CP" kafka.Kafka "$DATA_DIR/server.properties" \
    </dev/null >"$STDOUT_LOG" 2>&1 &
KPID=$!
echo "$KPID" >"$PID_FILE"
log "started broker pid $KPID; waiting for it to answer on 127.0.0.1:$PORT (up to ${TIMEOUT}s)"

fail() {
  log "FAILED: $*"
  for f in "$BROKER_LOG" "$STDOUT_LOG"; do
    if [[ -s "$f" ]]; then echo "----- tail of $f -----" >&2; tail -n 40 "$f" >&2; fi
  done
  terminate "$KPID" 20 || true
  rm -f "$PID_FILE"
  # Class-data archives recorded by a failed run are not kept.
  if [[ -f "$DATA_DIR/cds-pending" ]]; then rm -f "$(cut -d' ' -f1 "$DATA_DIR/cds-pending")" "$DATA_DIR/cds-pending"; fi
  [[ -n "$TOOL_CDS_PART" ]] && rm -f "$TOOL_CDS_PART"
  exit 1
}

# ---------------------------------------------------------------- readiness
# Readiness = an AdminClient round trip (TopicCommand --list) succeeds against the
# broker. The probe JVM is started right away so that its start-up overlaps the
# broker's; its AdminClient keeps reconnecting until the listener answers. It is
# started again if it gives up, and the broker process is watched meanwhile.
cat >"$DATA_DIR/probe.properties" <<'EOF'
reconnect.backoff.ms=100
reconnect.backoff.max.ms=250
request.timeout.ms=10000
default.api.timeout.ms=30000
EOF
probe_pid=""
stop_probe() { if [[ -n "$probe_pid" ]]; then kill "$probe_pid" 2>/dev/null || true; probe_pid=""; fi; }
# One step of the probe: start it, or collect its result once it has exited (0 = ready).
probe_ready() {
  if [[ -z "$probe_pid" ]]; then
    local probe_cds=()
    [[ -n "$TOOL_CDS_PART" ]] && probe_cds=(-XX:ArchiveClassesAtExit="$TOOL_CDS_PART" -Xlog:cds=off -Xlog:cds+dynamic=off)
    "$JAVA" "${probe_cds[@]}" "${TOOL_JVM[@]}" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$PORT" --command-config "$DATA_DIR/probe.properties" \
        --list >"$DATA_DIR/ready.out" 2>&1 &
    probe_pid=$!
    return 1
  fi
  if kill -0 "$probe_pid" 2>/dev/null; then return 1; fi
  local rc=0
  wait "$probe_pid" || rc=$?
  probe_pid=""
  (( rc == 0 ))
}
trap stop_probe EXIT
rc=0
wait_ready "$KPID" "$TIMEOUT" 0.1 probe_ready || rc=$?
if (( rc == 1 )); then stop_probe; fail "broker process $KPID exited"; fi
if (( rc == 2 )); then stop_probe; fail "broker not ready after ${TIMEOUT}s"; fi
trap - EXIT
if [[ -n "$TOOL_CDS_PART" ]]; then
  if [[ -s "$TOOL_CDS_PART" ]]; then mv -f "$TOOL_CDS_PART" "${TOOL_CDS_PART%.*.part}"; else rm -f "$TOOL_CDS_PART"; fi
fi

ELAPSED=$(elapsed_since "$T0")
log "ready in ${ELAPSED}s (Kafka $KAFKA_VERSION, pid $KPID)"
echo "KAFKA_BOOTSTRAP=127.0.0.1:$PORT"
echo "KAFKA_DATA_DIR=$DATA_DIR"
echo "KAFKA_PID=$KPID"
if [[ -n "$ADV_PORT" ]]; then echo "KAFKA_ADVERTISED=127.0.0.1:$ADV_PORT"; fi
