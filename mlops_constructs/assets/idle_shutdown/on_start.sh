#!/bin/bash
# Studio lifecycle configuration (JupyterLab): stop the app after __IDLE_MINUTES__ idle minutes.
# Installs a small checker and runs it every 5 minutes in the background; the app start is not delayed.
set -euo pipefail
dir="$HOME/.mlops-idle-shutdown"
mkdir -p "$dir"
cat > "$dir/idle_check.py" <<'PY'
__IDLE_CHECK_PY__
PY
nohup bash -c "while true; do sleep 300; IDLE_MINUTES=__IDLE_MINUTES__ python3 '$dir/idle_check.py' || true; done" \
  >> "$dir/idle-check.log" 2>&1 &
echo "idle shutdown after __IDLE_MINUTES__ minutes is active; log: $dir/idle-check.log"
