#!/usr/bin/env bash
# Start a local BigQuery emulator (the `bqemulator` PyPI package: REST + gRPC
# Storage Read/Write APIs, DuckDB-backed), bound to 127.0.0.1 only, in-memory.
#
#   scripts/bqemulator/start.sh [--rest-port 9050] [--grpc-port 9060] [--dir DIR]
#                               [--timeout SECONDS]
#
# On success prints, on stdout, lines that can be eval'ed:
#   BQ_REST_ENDPOINT=http://127.0.0.1:9050     (apiEndpoint for @google-cloud/bigquery)
#   BQ_GRPC_ENDPOINT=127.0.0.1:9060            (Storage Read/Write API, plaintext gRPC)
#   BQ_DIR=/tmp/gamestream-bqemulator.XXXXXX   (pid file and log)
#   BQ_PID=12345
# Progress goes to stderr. Stop it with scripts/bqemulator/stop.sh --dir DIR
#
# First use creates a venv in ${GAMESTREAM_CACHE:-~/.cache/gamestream}/bqemulator/venv
# and pip-installs the pinned versions below (constraints.txt pins the rest).
#
# Offline snag worked around here: at start bqemulator runs DuckDB's `INSTALL spatial`
# (and, best effort, `INSTALL avro`), which downloads from extensions.duckdb.org.
# The extensions come instead from PyPI wheels (duckdb-extension-spatial/-avro, built
# for exactly the pinned duckdb) and are copied into DuckDB's default extension
# directory ~/.duckdb/extensions/v<duckdb>/<platform>/, where INSTALL finds them and
# does not download. LOAD still checks DuckDB's signature on them.
#
# Environment:
#   PYTHON              python >= 3.11 used to create the venv (default python3)
#   BQEMU_LOG_LEVEL     trace|debug|info|warning|error (default info: one line per request)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICE=bqemulator
source "$SCRIPT_DIR/../lib/service.sh"

# ---- pinned versions (verified together; see README.md) ----------------------
BQEMULATOR_VERSION=1.4.0
# bqemulator 1.4.0 declares duckdb>=1.0, but it registers UDFs with string type
# names such as 'JSON', which duckdb 1.4.x rejects; duckdb 1.5.x accepts them.
# 1.5.5 is the newest duckdb with a spatial-extension wheel on PyPI.
DUCKDB_VERSION=1.5.5
DUCKDB_EXT_VERSION=1.5.5     # duckdb-extension-spatial / duckdb-extension-avro
# Not declared by bqemulator, but duckdb's create_function needs it (else every
# UDF registration fails with "'numpy' is required for this operation").
NUMPY_VERSION=2.4.6
PIP_SPECS=(
  "bqemulator==$BQEMULATOR_VERSION"
  "duckdb==$DUCKDB_VERSION"
  "numpy==$NUMPY_VERSION"
  "duckdb-extension-spatial==$DUCKDB_EXT_VERSION"
  "duckdb-extension-avro==$DUCKDB_EXT_VERSION"
)
STAGED_EXTENSIONS=(spatial avro)
# -----------------------------------------------------------------------------

CACHE_DIR="$CACHE_ROOT/bqemulator"
VENV="$CACHE_DIR/venv"
PYTHON="${PYTHON:-python3}"
LOG_LEVEL="${BQEMU_LOG_LEVEL:-info}"

REST_PORT=9050
GRPC_PORT=9060
DIR=""
TIMEOUT=60

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rest-port) REST_PORT="$2"; shift 2 ;;
    --rest-port=*) REST_PORT="${1#*=}"; shift ;;
    --grpc-port) GRPC_PORT="$2"; shift 2 ;;
    --grpc-port=*) GRPC_PORT="${1#*=}"; shift ;;
    --dir) DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#*=}"; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    -h|--help) usage ;;
    *) echo "start.sh: unknown argument: $1" >&2; usage ;;
  esac
done

# ---------------------------------------------------------------- venv
ensure_venv() {
  local want
  want="$(printf '%s\n' "${PIP_SPECS[@]}"; cat "$SCRIPT_DIR/constraints.txt")"
  if [[ -x "$VENV/bin/bqemulator" && -f "$VENV/.gamestream-pins" ]] && [[ "$(cat "$VENV/.gamestream-pins")" == "$want" ]]; then
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.lock"
  flock 8
  if [[ -x "$VENV/bin/bqemulator" && -f "$VENV/.gamestream-pins" ]] && [[ "$(cat "$VENV/.gamestream-pins")" == "$want" ]]; then
    exec 8>&-; return 0
  fi
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    log "bqemulator needs Python >= 3.11 ($PYTHON is $("$PYTHON" -V 2>&1))"; exit 1; }
  log "creating venv $VENV and installing bqemulator $BQEMULATOR_VERSION (first use)"
  local t0=$SECONDS
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$SCRIPT_DIR/constraints.txt" "${PIP_SPECS[@]}" >&2; then
    rm -rf "$VENV"; log "pip install failed"; exit 1
  fi
  printf '%s' "$want" >"$VENV/.gamestream-pins"
  exec 8>&-
  log "venv ready in $((SECONDS - t0)) s"
}

# Copy the extension binaries shipped in the PyPI wheels to where DuckDB's
# INSTALL looks first: <extension_directory>/v<version>/<platform>/<name>.duckdb_extension.
stage_extensions() {
  "$VENV/bin/python" - "${STAGED_EXTENSIONS[@]}" <<'PY'
import importlib, os, shutil, sys, filecmp
import duckdb
con = duckdb.connect()
platform = con.sql("PRAGMA platform").fetchone()[0]
version = duckdb.__version__            # e.g. 1.5.5
home = os.path.expanduser("~")
dest_dir = os.path.join(home, ".duckdb", "extensions", f"v{version}", platform)
os.makedirs(dest_dir, exist_ok=True)
for name in sys.argv[1:]:
    mod = importlib.import_module(f"duckdb_extension_{name}")
    src = os.path.join(os.path.dirname(mod.__file__), "extensions", f"v{version}", f"{name}.duckdb_extension")
    if not os.path.isfile(src):
        sys.exit(f"{src} missing: the duckdb-extension-{name} wheel does not match duckdb {version}")
    dst = os.path.join(dest_dir, f"{name}.duckdb_extension")
    if os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False):
        continue
    tmp = dst + f".tmp{os.getpid()}"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    print(f"[bqemulator] staged {name} extension -> {dst}", file=sys.stderr)
PY
}

# ---------------------------------------------------------------- dir, ports
if [[ -n "$DIR" && -f "$DIR/bqemulator.pid" ]]; then
  old_pid="$(cat "$DIR/bqemulator.pid")"
  if pid_is "$old_pid" 'bqemulator'; then
    log "an emulator is already running for $DIR (pid $old_pid); stop it first with scripts/bqemulator/stop.sh --dir $DIR"
    exit 1
  fi
  rm -f "$DIR/bqemulator.pid"
fi
require_free_ports "$REST_PORT" "$GRPC_PORT"
if [[ -z "$DIR" ]]; then
  DIR="$(mktemp -d "${TMPDIR:-/tmp}/gamestream-bqemulator.XXXXXX")"
else
  mkdir -p "$DIR"
fi
DIR="$(cd "$DIR" && pwd)"
PID_FILE="$DIR/bqemulator.pid"
LOG="$DIR/bqemulator.log"
log "dir: $DIR"

ensure_venv
stage_extensions

# ---------------------------------------------------------------- start
T0=$(date +%s.%N)
# launch.py: bqemulator with its DuckDB connection serialised (see the file for the deadlock it avoids).
nohup "$VENV/bin/python" "$SCRIPT_DIR/launch.py" start --ephemeral \
    --rest-host 127.0.0.1 --rest-port "$REST_PORT" \
    --grpc-host 127.0.0.1 --grpc-port "$GRPC_PORT" \
    --log-level "$LOG_LEVEL" --log-format json \
    </dev/null >"$LOG" 2>&1 &
BPID=$!
echo "$BPID" >"$PID_FILE"
log "started pid $BPID; waiting for GET /healthz on 127.0.0.1:$REST_PORT (up to ${TIMEOUT}s)"

fail() {
  log "FAILED: $*"
  if [[ -s "$LOG" ]]; then echo "----- tail of $LOG -----" >&2; tail -n 30 "$LOG" | cut -c1-600 >&2; fi
  terminate "$BPID" 10 || true
  rm -f "$PID_FILE"
  exit 1
}

healthy() { [[ "$(http_status "$REST_PORT" /healthz)" == 200 ]] && port_open "$GRPC_PORT"; }
rc=0
wait_ready "$BPID" "$TIMEOUT" 0.2 healthy || rc=$?
if (( rc == 1 )); then fail "emulator process $BPID exited"; fi
if (( rc == 2 )); then fail "no healthy answer after ${TIMEOUT}s"; fi

ELAPSED=$(elapsed_since "$T0")
log "ready in ${ELAPSED}s (bqemulator $BQEMULATOR_VERSION, duckdb $DUCKDB_VERSION, pid $BPID)"
echo "BQ_REST_ENDPOINT=http://127.0.0.1:$REST_PORT"
echo "BQ_GRPC_ENDPOINT=127.0.0.1:$GRPC_PORT"
echo "BQ_DIR=$DIR"
echo "BQ_PID=$BPID"
