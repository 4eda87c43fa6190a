#!/usr/bin/env bash
# Stop a registry started by scripts/schema-registry/start.sh, by its recorded pid.
#
#   scripts/schema-registry/stop.sh --data-dir DIR [--remove-data]
#
# SIGTERM, up to 20 s, then SIGKILL. Removes DIR/registry.pid. The pid is signalled only while it still is an
# Apicurio Registry JVM (pids get reused). --remove-data also deletes the data dir (its schemas) afterwards.
set -euo pipefail

DATA_DIR=""
REMOVE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --remove-data) REMOVE=1; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    *) echo "stop.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

log() { echo "[schema-registry] $*" >&2; }
if [[ -z "$DATA_DIR" ]]; then log "--data-dir is required"; exit 2; fi
PID_FILE="$DATA_DIR/registry.pid"

if [[ ! -f "$PID_FILE" ]]; then
  log "no pid file in $DATA_DIR: nothing to stop"
else
  pid="$(cat "$PID_FILE")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa 'apicurio-registry-app' "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "still running after 20 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    log "stopped"
  else
    log "pid ${pid:-?} from $PID_FILE is not running"
  fi
  rm -f "$PID_FILE"
fi

if (( REMOVE )) && [[ -d "$DATA_DIR" && -f "$DATA_DIR/.schema-registry" ]]; then
  rm -rf "$DATA_DIR"
  log "removed $DATA_DIR"
fi
