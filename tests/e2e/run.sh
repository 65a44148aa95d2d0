#!/usr/bin/env bash
# Browser test of the explorer notebook (make e2e): a real JupyterLab, driven by Playwright in Debian's chromium.
#
# 1. Installs what is missing: chromium from apt (needs root, as in CI), Playwright for Python into the venv.
#    Playwright's own browser download is not used: it needs hosts this machine cannot reach.
# 2. Starts `jupyter lab` from the venv on 127.0.0.1, a free port and a random token, in the repo root, with
#    throw-away config, settings and workspace folders (autosave off, so the stored notebook keeps no outputs).
# 3. Runs tests/e2e/drive_explorer.py: open notebooks/06_explorer.ipynb, run all cells, change the tie rule,
#    check that the table changes, screenshot to figures/e2e_explorer.png.
# 4. Always stops the server it started (trap), and puts the notebook back if anything wrote to it.
#
# Environment: VENV (default .venv), E2E_CHROMIUM (default /usr/bin/chromium), E2E_TIMEOUT (driver seconds,
# default 900), E2E_KEEP=1 keeps the temporary folder (server log) for inspection.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV=${VENV:-.venv}
PY="$ROOT/$VENV/bin/python"
CHROMIUM=${E2E_CHROMIUM:-/usr/bin/chromium}
NOTEBOOK=notebooks/06_explorer.ipynb
SCREENSHOT=figures/e2e_explorer.png
START=$(date +%s)

say() { echo "e2e: $*"; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

[ -x "$PY" ] || fail "no Python at $PY; run 'make venv' first"
[ -f "$NOTEBOOK" ] || fail "$NOTEBOOK is missing"

# ------------------------------------------------------------------------------------------- installs
if [ ! -x "$CHROMIUM" ]; then
  say "installing Debian's chromium (apt-get install -y chromium)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else fail "$CHROMIUM is missing and this user cannot install it; run as root: apt-get install -y chromium"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || fail "apt-get update failed"
  $SUDO apt-get install -y -qq chromium >/dev/null || fail "apt-get install -y chromium failed"
  [ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM does not exist; set E2E_CHROMIUM"
fi
if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
  say "installing Playwright for Python into $VENV"
  "$PY" -m pip install --quiet "playwright>=1.45" || fail "pip install playwright failed"
fi
if ! "$PY" -c "import jupyterlab, jupyter_server, ipywidgets, ipykernel" 2>/dev/null; then
  say "installing JupyterLab, ipywidgets and ipykernel into $VENV"
  "$PY" -m pip install --quiet "jupyterlab>=4.2" "ipywidgets>=8.1" "ipykernel>=6.29" || fail "pip install failed"
fi
say "chromium: $("$CHROMIUM" --version 2>/dev/null | head -n 1); $("$PY" -m pip show playwright 2>/dev/null \
  | sed -n 's/^Version: /playwright /p'); jupyterlab $("$PY" -c 'import jupyterlab; print(jupyterlab.__version__)')"

# ------------------------------------------------------------------------------------------- server
TMP=$(mktemp -d /tmp/val-e2e.XXXXXX)
BACKUP="$TMP/notebook.ipynb"
cp "$NOTEBOOK" "$BACKUP"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # jupyter_server shuts its kernels down on SIGTERM; give it time, then make sure.
    for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    say "stopped the JupyterLab server (pid $SERVER_PID)"
  fi
  if ! cmp -s "$BACKUP" "$NOTEBOOK"; then
    cp "$BACKUP" "$NOTEBOOK"
    say "warning: $NOTEBOOK was modified during the run; restored the stored copy"
  fi
  if [ $rc -ne 0 ] && [ -f "$TMP/jupyter.log" ]; then
    echo "---- last lines of the JupyterLab log ----" >&2
    tail -n 40 "$TMP/jupyter.log" >&2 || true
  fi
  if [ "${E2E_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  say "finished in $(( $(date +%s) - START )) s with exit code $rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(24))')

# Settings for this run only: no autosave (outputs must never reach the stored notebook), no news or update
# checks (no network, and their pop-ups cover the page), every cell rendered (no lazy windowing).
SETTINGS="$TMP/settings"
mkdir -p "$SETTINGS/@jupyterlab/docmanager-extension" "$SETTINGS/@jupyterlab/apputils-extension" \
  "$SETTINGS/@jupyterlab/notebook-extension" "$TMP/config" "$TMP/data" "$TMP/runtime" "$TMP/workspaces"
echo '{"autosave": false}' > "$SETTINGS/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
echo '{"fetchNews": "false", "checkForUpdates": false}' \
  > "$SETTINGS/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
echo '{"windowingMode": "none"}' > "$SETTINGS/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"

ROOT_FLAG=()
[ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-root)
# Checkpoints (JupyterLab makes one when it opens a file) go to the temporary folder, not notebooks/.
# A private config/data/runtime home: a user's own Jupyter config or kernels cannot change what is tested, and
# the "python3" kernel is the venv's (jupyter_client runs a "python" kernel with the server's interpreter).
JUPYTER_CONFIG_DIR="$TMP/config" JUPYTER_DATA_DIR="$TMP/data" JUPYTER_RUNTIME_DIR="$TMP/runtime" \
JUPYTER_PREFER_ENV_PATH=1 PATH="$ROOT/$VENV/bin:$PATH" \
  "$PY" -m jupyterlab --no-browser "${ROOT_FLAG[@]}" \
    --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$ROOT" \
    --LabApp.user_settings_dir="$SETTINGS" --LabApp.workspaces_dir="$TMP/workspaces" \
    --LabApp.expose_app_in_browser=True --FileCheckpoints.checkpoint_dir="$TMP/checkpoints" \
    > "$TMP/jupyter.log" 2>&1 &
SERVER_PID=$!
say "started jupyter lab (pid $SERVER_PID) on 127.0.0.1:$PORT"

# Wait until the server answers an authenticated API call (first start can take a while on a busy machine).
"$PY" - "$PORT" "$TOKEN" "$SERVER_PID" <<'EOF' || fail "JupyterLab did not answer within 180 s"
import os, sys, time, urllib.request
port, token, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server process exited")
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit(1)
EOF
say "server is up after $(( $(date +%s) - START )) s"

# ------------------------------------------------------------------------------------------- browser
mkdir -p "$(dirname "$SCREENSHOT")"
rm -f "$SCREENSHOT"
DRIVER_RC=0
timeout --kill-after=30 "${E2E_TIMEOUT:-900}" "$PY" tests/e2e/drive_explorer.py \
  --url "http://127.0.0.1:$PORT" --token "$TOKEN" --notebook "$NOTEBOOK" --screenshot "$SCREENSHOT" \
  --chromium "$CHROMIUM" || DRIVER_RC=$?
case $DRIVER_RC in
  0) ;;
  124|137) fail "the browser test ran past E2E_TIMEOUT=${E2E_TIMEOUT:-900} s and was stopped" ;;
  *) fail "the browser test failed with exit code $DRIVER_RC (see the messages above)" ;;
esac
[ -s "$SCREENSHOT" ] || fail "no screenshot at $SCREENSHOT"
say "PASSED: the explorer rendered in JupyterLab and its table followed the tie rule; screenshot $SCREENSHOT"
