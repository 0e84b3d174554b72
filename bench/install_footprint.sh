#!/usr/bin/env bash
# Install footprint of `pip install .` into a fresh venv: wall time, venv size, package count, wheel size.
# usage: bench/install_footprint.sh [SRC_DIR] [WORK_DIR]   (defaults: this checkout, a temp dir)
# Uses --no-cache-dir so every run downloads (the figure a new admin sees on a fresh machine).
set -euo pipefail
SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
WORK=${2:-$(mktemp -d)}
PY=${PYTHON:-python3}
mkdir -p "$WORK"
"$PY" -m venv "$WORK/venv"
start=$(date +%s.%N)
"$WORK/venv/bin/python" -m pip install -q --no-cache-dir "$SRC" 2>&1 | grep -v "^WARNING: Location" || true
end=$(date +%s.%N)
"$WORK/venv/bin/reconciler" --version || echo "(this version has no --version)"
pkgs=$("$WORK/venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -vcE '^(pip|setuptools|wheel)==')
size=$(du -sm "$WORK/venv" | cut -f1)
printf 'install %.1f s, venv %s MB, %s packages (without pip/setuptools)\n' "$(echo "$end - $start" | bc)" "$size" "$pkgs"
"$WORK/venv/bin/python" -m pip wheel -q --no-deps --no-cache-dir -w "$WORK/wheel" "$SRC" 2>&1 | grep -v "^WARNING: Location" || true
ls -l "$WORK"/wheel/*.whl | awk '{printf "wheel %s: %.0f kB\n", $9, $5/1024}'
