#!/usr/bin/env bash
# nginx fronts gunicorn in the image; with it installed, the serving tests cover that path too (tests/container/test_serving.py).
# Installs it where this can be done without asking (root with apt-get, as in CI); elsewhere says how, once, and goes on:
# without nginx those tests skip, and pytest's summary (-ra) names each skip and the reason.
set -uo pipefail
command -v nginx >/dev/null && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; } && exit 0
  echo "nginx could not be installed: the nginx serving tests will be skipped" >&2
  exit 0
fi
echo "nginx is not installed: the serving tests behind nginx will be skipped (pytest -ra lists them)." >&2
echo "  install it to run them: sudo apt-get install nginx-light (Debian, Ubuntu) or brew install nginx (macOS)" >&2
exit 0
