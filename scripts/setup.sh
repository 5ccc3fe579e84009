#!/usr/bin/env bash
# Installs the Debian 12 packages smacs needs to build, test, fuzz and benchmark, the pinned
# npm packages of the Node.js client tests, and the pinned llama.cpp (scripts/fetch-llama.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PKGS=(build-essential cmake pkg-config git openssl
      nlohmann-json3-dev libcli11-dev libsqlite3-dev libhnswlib-dev
      libcpp-httplib-dev libboost1.81-dev libyaml-cpp-dev libssl-dev zlib1g-dev libbrotli-dev
      libgtest-dev libgmock-dev libbenchmark-dev libeigen3-dev libjemalloc-dev
      clang libclang-rt-14-dev
      libpq-dev postgresql-15  # the PostgreSQL bank; the tests start a throw-away server
      prometheus haproxy)  # promtool checks /metrics in a test; HAProxy is the pass-through yardstick
                           # and the replicas' load balancer
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Node.js runs the real-client tests (openai, Anthropic, Vercel AI SDK); keep an existing install
# (it may bundle npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# The client tests' npm packages, pinned by package-lock.json: installed again when it changed.
lock_sum=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/node/node_modules/.smacs-lock 2>/dev/null)" != "$lock_sum" ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > tests/node/node_modules/.smacs-lock
fi
# llama.cpp for the in-process backend, cached outside the repository (skip: SMACS_NO_LLAMA=1,
# then build with -DSMACS_WITH_LLAMA=OFF).
if [ -z "${SMACS_NO_LLAMA:-}" ]; then scripts/fetch-llama.sh >/dev/null; fi
