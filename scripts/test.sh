#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests start themselves
# (Chromium and the browser-test packages), then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installation de Chromium (tests du widget)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
if command -v redis-server >/dev/null 2>&1; then :; else
  echo "== installation de redis-server (tests du stockage Redis)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq redis-server >/dev/null
  else sudo apt-get install -y -qq redis-server >/dev/null; fi
fi
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "== installation d'aiosmtpd (serveur SMTP des tests de courriel)"
  pip install --quiet aiosmtpd
fi
python3 -c 'import kubernetes_validate' 2>/dev/null || pip install --quiet kubernetes-validate || pip install --quiet --break-system-packages kubernetes-validate
if [ -f tests/browser/package-lock.json ]; then
  echo "== dépendances des tests navigateur (npm ci)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== cargo test"
log=$(mktemp)
status=0
cargo test --locked --all-features -- --test-threads=4 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary, the last being doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
