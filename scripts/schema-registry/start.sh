#!/usr/bin/env bash
# Start a local Confluent-compatible schema registry: Apicurio Registry (from Maven Central), bound to
# 127.0.0.1 only, storing its schemas in an H2 file inside the data dir (so a restart on the same data dir
# keeps every schema and id).
#
#   scripts/schema-registry/start.sh [--port 8081] [--data-dir DIR] [--timeout SECONDS]
#
# On success prints, on stdout, lines that can be eval'ed:
#   SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7
#   SCHEMA_REGISTRY_DATA_DIR=/tmp/gamestream-schema-registry.XXXXXX
#   SCHEMA_REGISTRY_PID=12345
# SCHEMA_REGISTRY_URL is the Confluent API (GAMESTREAM_SCHEMA_REGISTRY_URL). Progress goes to stderr.
# Stop it with scripts/schema-registry/stop.sh --data-dir DIR.
#
# First use fetches the registry (about 140 MB) with Maven into
#   ${GAMESTREAM_CACHE:-~/.cache/gamestream}/schema-registry/<version>/app
#
# Environment:
#   APICURIO_VERSION  Apicurio Registry version (default 2.6.13.Final, which runs on Java 17; 3.x needs Java 21)
#   REGISTRY_HEAP     maximum heap (default 256m)
#   JAVA              java binary (default: $JAVA_HOME/bin/java or java)
#   MVN               maven binary (default: mvn)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICE=schema-registry
source "$SCRIPT_DIR/../lib/service.sh"
APICURIO_VERSION="${APICURIO_VERSION:-2.6.13.Final}"
REGISTRY_HEAP="${REGISTRY_HEAP:-256m}"
CACHE_DIR="$CACHE_ROOT/schema-registry/$APICURIO_VERSION"
APP_DIR="$CACHE_DIR/app"
RUNNER="$APP_DIR/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
JAVA="$(java_bin)"
MVN="${MVN:-mvn}"

PORT=8081
DATA_DIR=""
TIMEOUT=120

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    -h|--help) usage ;;
    *) echo "start.sh: unknown argument: $1" >&2; usage ;;
  esac
done

# ---------------------------------------------------------------- fetch
fetch_app() {
  if [[ -f "$APP_DIR/.complete" && -f "$RUNNER" ]]; then return 0; fi
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent first starts.
  exec 8>"$CACHE_DIR/.lock"
  flock 8
  if [[ -f "$APP_DIR/.complete" ]]; then exec 8>&-; return 0; fi
  log "fetching Apicurio Registry $APICURIO_VERSION from Maven Central into $APP_DIR (first use)"
  local t0=$SECONDS tmp="$CACHE_DIR/app.tmp.$$"
  rm -rf "$tmp"
  if ! "$MVN" -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" dependency:unpack \
        "-Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
        -DoutputDirectory="$tmp" -Dscratch.dir="$tmp.mvn" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp" "$tmp.mvn"; log "maven fetch failed"; exit 1
  fi
  rm -rf "$tmp.mvn"
  if [[ ! -f "$tmp/apicurio-registry-app-$APICURIO_VERSION-runner.jar" ]]; then
    rm -rf "$tmp"; log "the fetched archive has no apicurio-registry-app-$APICURIO_VERSION-runner.jar"; exit 1
  fi
  touch "$tmp/.complete"
  rm -rf "$APP_DIR"
  mv "$tmp" "$APP_DIR"
  exec 8>&-
  log "fetched in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- data dir, port
if [[ -n "$DATA_DIR" && -f "$DATA_DIR/registry.pid" ]]; then
  old_pid="$(cat "$DATA_DIR/registry.pid")"
  if pid_is "$old_pid" 'apicurio-registry-app'; then
    log "a registry is already running for $DATA_DIR (pid $old_pid); stop it first with scripts/schema-registry/stop.sh --data-dir $DATA_DIR"
    exit 1
  fi
  rm -f "$DATA_DIR/registry.pid"
fi
require_free_ports "$PORT"

if [[ -z "$DATA_DIR" ]]; then
  DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gamestream-schema-registry.XXXXXX")"
else
  mkdir -p "$DATA_DIR"
fi
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PID_FILE="$DATA_DIR/registry.pid"
LOG_FILE="$DATA_DIR/registry.log"
touch "$DATA_DIR/.schema-registry"   # marks the dir as ours, for stop.sh --remove-data
log "data dir: $DATA_DIR"

fetch_app

# ---------------------------------------------------------------- start
T0=$(date +%s.%N)
# Quarkus settings as system properties: HTTP on loopback only, H2 on a file in the data dir, console logs
# at WARN except the start-up line. TieredStopAtLevel=1 roughly halves the start time on two cores.
REGISTRY_DATASOURCE_URL="jdbc:h2:file:$DATA_DIR/registry" \
nohup "$JAVA" -Xmx"$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
    -Dquarkus.log.level=WARN -Dquarkus.log.category.\"io.quarkus\".level=INFO \
    -jar "$APP_DIR/apicurio-registry-app-$APICURIO_VERSION-runner.jar" \
    </dev/null >"$LOG_FILE" 2>&1 &
RPID=$!
echo "$RPID" >"$PID_FILE"
log "started pid $RPID; waiting for http://127.0.0.1:$PORT to answer (up to ${TIMEOUT}s)"

fail() {
  log "FAILED: $*"
  if [[ -s "$LOG_FILE" ]]; then echo "----- tail of $LOG_FILE -----" >&2; tail -n 40 "$LOG_FILE" >&2; fi
  terminate "$RPID" 10 || true
  rm -f "$PID_FILE"
  exit 1
}

# Ready = the Confluent API answers 200 (storage initialised and REST up).
api_ready() { [[ "$(http_status "$PORT" /apis/ccompat/v7/subjects 3)" == 200 ]]; }
rc=0
wait_ready "$RPID" "$TIMEOUT" 0.2 api_ready || rc=$?
if (( rc == 1 )); then fail "process $RPID exited"; fi
if (( rc == 2 )); then fail "not ready after ${TIMEOUT}s"; fi

ELAPSED=$(elapsed_since "$T0")
log "ready in ${ELAPSED}s (Apicurio Registry $APICURIO_VERSION, pid $RPID)"
echo "SCHEMA_REGISTRY_URL=http://127.0.0.1:$PORT/apis/ccompat/v7"
echo "SCHEMA_REGISTRY_DATA_DIR=$DATA_DIR"
echo "SCHEMA_REGISTRY_PID=$RPID"
