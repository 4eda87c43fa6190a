#!/usr/bin/env bash
# Stop an emulator started by scripts/bqemulator/start.sh, by its recorded pid.
#
#   scripts/bqemulator/stop.sh --dir DIR [--remove-dir]
#
# DIR is the one start.sh printed: it names the emulator, so another one on the machine is
# never stopped by mistake.
# SIGTERM, up to 15 s, then SIGKILL. Removes DIR/bqemulator.pid; --remove-dir
# also deletes DIR (pid file and log).
set -euo pipefail

SERVICE=bqemulator
source "$(dirname "${BASH_SOURCE[0]}")/../lib/service.sh"

DIR=""
REMOVE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#*=}"; shift ;;
    --remove-dir) REMOVE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;; # the header above
    *) echo "stop.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$DIR" ]]; then
  log "give --dir DIR: the directory that start.sh printed for the emulator to stop"; exit 2
fi
PID_FILE="$DIR/bqemulator.pid"

stop_pid "$PID_FILE" 'bqemulator' emulator 15 || true

if (( REMOVE )) && [[ -d "$DIR" && -f "$DIR/bqemulator.log" ]]; then
  rm -rf "$DIR"
  log "removed $DIR"
fi
