#!/usr/bin/env bash
# Debian packages the test suite uses, installed when missing (npm runs this before `npm test`):
#   promtool (package prometheus) checks monitoring/alerts.yml and deploy/prometheus/prometheus.yml; Chromium
#   renders the status page in a browser test; podman (with runc) and mmdebstrap build the Containerfile's image
#   from a Debian base made here and run it, and the systemd units inside it; docker-compose (only its
#   `config` check, no Docker engine) validates deploy/compose.yaml.
# Kafka's jars are fetched by the suite itself (scripts/kafka/start.sh, through Maven), so Java 17+ and Maven are
# needed (the broker and the schema registry run on them); the BigQuery emulator is a Python 3.11+ package put in a
# virtual environment (python3-venv).
set -euo pipefail
missing=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
{ command -v java >/dev/null 2>&1 && (($(java_major) >= 17)); } || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 || missing+=(python3-venv)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
# Without its recommended docker.io: the tests never start a Docker engine.
bare=()
command -v docker-compose >/dev/null 2>&1 || bare+=(docker-compose)
((${#missing[@]} + ${#bare[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "test-deps: the tests need the Debian packages: ${missing[*]} ${bare[*]}; install them with: sudo apt-get install -y ${missing[*]}${bare[*]:+ && sudo apt-get install -y --no-install-recommends ${bare[*]}}" >&2
  exit 1
fi
echo "test-deps: installing ${missing[*]} ${bare[*]} (apt-get)" >&2
apt-get update -qq
if ((${#missing[@]} > 0)); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi
if ((${#bare[@]} > 0)); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${bare[@]}" >/dev/null; fi
