#!/usr/bin/env bash
# Stop a registry started by scripts/schema-registry/start.sh, by its recorded pid.
#
#   scripts/schema-registry/stop.sh --data-dir DIR [--remove-data]
#
# SIGTERM, up to 20 s, then SIGKILL. Removes DIR/registry.pid. The pid is signalled only while it still is an
# Apicurio Registry JVM (pids get reused). --remove-data also deletes the data dir (its schemas) afterwards.
set -euo pipefail

SERVICE=schema-registry
source "$(dirname "${BASH_SOURCE[0]}")/../lib/service.sh"

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

if [[ -z "$DATA_DIR" ]]; then log "--data-dir is required"; exit 2; fi
PID_FILE="$DATA_DIR/registry.pid"

stop_pid "$PID_FILE" 'apicurio-registry-app' '' 20 || true

if (( REMOVE )) && [[ -d "$DATA_DIR" && -f "$DATA_DIR/.schema-registry" ]]; then
  rm -rf "$DATA_DIR"
  log "removed $DATA_DIR"
fi
