#!/usr/bin/env bash
# Stop a broker started by scripts/kafka/start.sh, by its recorded pid.
#
#   scripts/kafka/stop.sh --data-dir DIR [--remove-data]
#
# DIR is the KAFKA_DATA_DIR start.sh printed: it names the broker, so another broker on the
# machine is never stopped by mistake.
# SIGTERM (controlled shutdown), up to 20 s, then SIGKILL. Removes DIR/kafka.pid.
# After a clean first stop it installs the broker's class-data archive (see start.sh).
# --remove-data also deletes the data dir afterwards.
set -euo pipefail

SERVICE=kafka
source "$(dirname "${BASH_SOURCE[0]}")/../lib/service.sh"

DATA_DIR=""
REMOVE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
    --remove-data) REMOVE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;; # the header above
    *) echo "stop.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$DATA_DIR" ]]; then
  log "give --data-dir DIR: the KAFKA_DATA_DIR that start.sh printed for the broker to stop"; exit 2
fi
PID_FILE="$DATA_DIR/kafka.pid"

if stop_pid "$PID_FILE" 'kafka.Kafka' broker 20; then
  # start.sh asked this JVM to record a class-data archive at exit (first run):
  # keep it only after a clean SIGTERM exit.
  if [[ -f "$DATA_DIR/cds-pending" ]]; then
    read -r part final <"$DATA_DIR/cds-pending" || true
    if (( ! STOP_KILLED )) && [[ -n "${part:-}" && -s "$part" ]]; then
      mv -f "$part" "$final" && log "recorded class-data archive $final"
    else
      rm -f "${part:-}"
    fi
    rm -f "$DATA_DIR/cds-pending"
  fi
fi

if (( REMOVE )) && [[ -d "$DATA_DIR" && -f "$DATA_DIR/server.properties" ]]; then
  rm -rf "$DATA_DIR"
  log "removed $DATA_DIR"
fi
