#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests start themselves when it is
# missing (Chromium, redis-server, the Python test tools in .venv/, the browser-test packages),
# then runs every Rust test. Needs root or sudo for apt; nothing here asks a question.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get that waits for another apt or dpkg run (unattended-upgrades, a first-boot script) to
# release its locks instead of failing: DPkg::Lock::Timeout covers dpkg's locks, and the loop the
# lists lock of `apt-get update`, which older apt does not wait for.
apt_get() {
  local err deadline=$((SECONDS + 300))
  err=$(mktemp)
  until as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=300 -qq "$@" >/dev/null 2>"$err"; do
    if grep -Eqi 'could not get lock|unable to lock|unable to acquire' "$err" && [ "$SECONDS" -lt "$deadline" ]; then
      echo "   apt est occupé par un autre processus, nouvelle tentative dans 5 s"
      sleep 5
    else
      cat "$err" >&2
      rm -f "$err"
      return 1
    fi
  done
  rm -f "$err"
}

# Installs Debian packages; the package lists are refreshed once, before the first install.
apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    apt_get update
    apt_updated=yes
  fi
  apt_get install -y --no-install-recommends "$@"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installation de Chromium (tests du widget)"
  apt_install chromium
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installation de redis-server (tests du stockage Redis)"
  apt_install redis-server
fi

# Python test tools (tests/requirements.txt) in the project's virtual environment, never in the
# system interpreter (Debian's refuses `pip install`, PEP 668); reinstalled when the file changes.
venv=.venv
requirements=tests/requirements.txt
# A venv whose interpreter went away, or whose creation stopped half-way (no pip), is made anew.
venv_works() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; }
wanted=$(sha256 "$requirements")
if ! venv_works || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$wanted" ]; then
  if ! venv_works; then
    base_python=python3
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      echo "== installation de python3-venv (environnement virtuel des outils Python)"
      apt_install python3 python3-venv
      # A python3 that is not Debian's (pyenv, /usr/local) is not helped by the package.
      python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || base_python=/usr/bin/python3
    fi
    echo "== création de l'environnement virtuel .venv/"
    rm -rf "$venv"
    "$base_python" -m venv "$venv"
  fi
  echo "== outils Python des tests dans .venv/ ($requirements)"
  rm -f "$venv/.requirements.sha256"
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --require-virtualenv -r "$requirements"
  echo "$wanted" >"$venv/.requirements.sha256"
fi
export CHARTE_PYTHON="$PWD/$venv/bin/python"
export CHARTE_SCHEMATHESIS="$PWD/$venv/bin/schemathesis"

# Browser-test packages: `npm ci` only when node_modules was not installed from this lock file.
if [ -f tests/browser/package-lock.json ]; then
  lock=$(sha256 tests/browser/package-lock.json)
  if [ "$(cat tests/browser/node_modules/.charte-lock.sha256 2>/dev/null)" != "$lock" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "npm introuvable : installez Node.js (20 ou plus) et npm (voir « Prerequisites » dans README.md)" >&2
      exit 1
    fi
    echo "== dépendances des tests navigateur (npm ci)"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" >tests/browser/node_modules/.charte-lock.sha256
  fi
fi

# Habits the suite keeps: formatted code, no clippy warning (the `[lints]` table of Cargo.toml
# adds its own rules to both).
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    echo "== installation de $component (rustup)"
    rustup component add "$component"
  fi
done
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --locked --all-targets --all-features -- -D warnings

echo "== cargo test"
log=$(mktemp)
status=0
cargo test --locked --all-features -- --test-threads=4 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary, the last being doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
