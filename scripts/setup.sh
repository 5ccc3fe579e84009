#!/usr/bin/env bash
# Installs the Debian 12 packages smacs needs to build, test and benchmark.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PKGS=(build-essential cmake pkg-config
      nlohmann-json3-dev libcli11-dev libsqlite3-dev libhnswlib-dev
      libcpp-httplib-dev libyaml-cpp-dev libssl-dev zlib1g-dev libbrotli-dev
      clang libclang-rt-14-dev nodejs npm
      libgtest-dev libgmock-dev libbenchmark-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
