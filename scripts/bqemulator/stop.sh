#!/usr/bin/env bash
# Stop an emulator started by scripts/bqemulator/start.sh, by its recorded pid.
#
#   scripts/bqemulator/stop.sh [--dir DIR] [--remove-dir]
#
# Without --dir it stops the emulator that start.sh started last.
# SIGTERM, up to 15 s, then SIGKILL. Removes DIR/bqemulator.pid; --remove-dir
# also deletes DIR (pid file and log).
set -euo pipefail

CACHE_ROOT="${GAMESTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gamestream}"
DIR=""
REMOVE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#*=}"; shift ;;
    --remove-dir) REMOVE=1; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    *) echo "stop.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

log() { echo "[bqemulator] $*" >&2; }

if [[ -z "$DIR" ]]; then
  if [[ -f "$CACHE_ROOT/bqemulator/last-dir" ]]; then
    DIR="$(cat "$CACHE_ROOT/bqemulator/last-dir")"
  else
    log "no --dir given and no emulator recorded as started last"; exit 1
  fi
fi
PID_FILE="$DIR/bqemulator.pid"

if [[ ! -f "$PID_FILE" ]]; then
  log "no pid file in $DIR: nothing to stop"
else
  pid="$(cat "$PID_FILE")"
  # Only signal the pid if it still is the emulator (pids get reused).
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa 'bqemulator' "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping emulator pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "still running after 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    log "stopped"
  else
    log "pid ${pid:-?} from $PID_FILE is not running"
  fi
  rm -f "$PID_FILE"
fi

if (( REMOVE )) && [[ -d "$DIR" && -f "$DIR/bqemulator.log" ]]; then
  rm -rf "$DIR"
  log "removed $DIR"
fi
