#!/usr/bin/env bash
# Debian packages the test suite uses, installed when missing (npm runs this before `npm test`):
#   promtool (package prometheus) checks monitoring/alerts.yml; Chromium renders the status page in a browser test.
# Kafka's jars are fetched by the suite itself (scripts/kafka/start.sh, through Maven).
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "test-deps: the tests need the Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "test-deps: installing ${missing[*]} (apt-get)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
