#!/usr/bin/env bash
# Installs the Debian 12 packages smacs needs to build, test, fuzz and benchmark,
# and the pinned npm packages of the Node.js client tests.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PKGS=(build-essential cmake pkg-config
      nlohmann-json3-dev libcli11-dev libsqlite3-dev libhnswlib-dev
      libcpp-httplib-dev libyaml-cpp-dev libssl-dev zlib1g-dev libbrotli-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Node.js runs the official `openai` client tests; keep an existing install (it may bundle npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
if [ ! -d tests/node/node_modules/openai ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
