# Shared by the start.sh/stop.sh scripts of the local test services (kafka, bqemulator, schema-registry):
# port checks, readiness polling and stopping by recorded pid. Sourced, not run; set SERVICE (the log
# prefix) first. Services are only ever signalled by pid, after checking the pid still runs the service.

log() { echo "[$SERVICE] $*" >&2; }

# Where the services keep what they fetch (jars, venvs) and their last data dir.
CACHE_ROOT="${GAMESTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gamestream}"

# The java binary for the JVM services: $JAVA, else $JAVA_HOME/bin/java, else java on the PATH.
java_bin() {
  if [[ -n "${JAVA:-}" ]]; then echo "$JAVA"; elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

# Is something accepting TCP connections on 127.0.0.1:$1 ? (to refuse busy ports)
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Exits 1 when any of the given ports is in use.
require_free_ports() {
  local p
  for p in "$@"; do
    if port_open "$p"; then log "port 127.0.0.1:$p is already in use"; exit 1; fi
  done
}

# HTTP status of GET http://127.0.0.1:$1$2 (empty when nothing answers within ${3:-2} s), no curl needed.
http_status() {
  timeout "${3:-2}" bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "'"$2"'" >&3
    IFS=" " read -r _ code _ <&3 && echo "$code"' 2>/dev/null || true
}

# Does pid $1 run a command line matching $2? (pids get reused: check before signalling one)
pid_is() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null && grep -qa -- "$2" "/proc/$1/cmdline" 2>/dev/null; }

# Polls `$4...` every $3 s until it succeeds (returns 0), pid $1 exits (1) or $2 s have passed (2).
# The check runs in this shell, so it may keep state between calls.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + $2)) interval=$3
  shift 3
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || return 1
    if "$@"; then return 0; fi
    sleep "$interval"
  done
  return 2
}

# SIGTERM to pid $1, SIGKILL if it still runs after $2 s (logging $3 first, when given). Returns 1 when it
# took SIGKILL.
terminate() {
  local pid=$1 grace=$2 _
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 5))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null || return 0
  if [[ -n "${3:-}" ]]; then log "$3"; fi
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  return 1
}

# Stops the service whose pid file is $1, only while that pid still matches the command-line pattern $2:
# SIGTERM, up to $4 s, then SIGKILL. $3 names it in the log ("stopping <label> pid N"). Removes the pid file.
# Returns 0 when it stopped a process (STOP_KILLED=1 if that took SIGKILL), 1 when there was none.
stop_pid() {
  local pid_file=$1 pattern=$2 label=$3 grace=$4 pid
  STOP_KILLED=0
  if [[ ! -f "$pid_file" ]]; then
    log "no pid file in ${pid_file%/*}: nothing to stop"
    return 1
  fi
  pid="$(cat "$pid_file")"
  if ! pid_is "$pid" "$pattern"; then
    log "pid ${pid:-?} from $pid_file is not running"
    rm -f "$pid_file"
    return 1
  fi
  log "stopping ${label:+$label }pid $pid"
  terminate "$pid" "$grace" "still running after $grace s: SIGKILL" || STOP_KILLED=1
  log "stopped"
  rm -f "$pid_file"
}

# Seconds since $1 (a `date +%s.%N` stamp), one decimal.
elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
