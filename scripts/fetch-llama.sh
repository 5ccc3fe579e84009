#!/usr/bin/env bash
# Fetches the pinned llama.cpp that smacs's in-process backend and embedder link against,
# into a cache outside the repository (default ~/.cache/smacs/llama-cpp-3.22.1):
#   src/  llama.cpp source at the release the prebuilt libraries were built from (headers,
#         and llama-bench's source for the benchmark), from node-llama-cpp's git bundle
#   lib/  the prebuilt CPU shared libraries of @node-llama-cpp/linux-x64 (libllama, libggml*,
#         one libggml-cpu-*.so per CPU generation, picked at run time)
# Both npm tarballs are checked against the registry's pinned sha512 before use.
# Prints the cache directory on stdout.
set -euo pipefail
VERSION=3.22.1
MAIN_SHA512="bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="
LIBS_SHA512="5uCCDNqWCNfaAm8aR/Uzxbo4HBpKgNF91kCHPepKhgMgV2OAmatoefbOlMihsqCiH2Od35E/eUHQCFbfRBJuOg=="
DIR="${SMACS_LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smacs/llama-cpp-$VERSION}"

if [ -f "$DIR/.complete" ]; then echo "$DIR"; exit 0; fi
command -v npm >/dev/null || { echo "fetch-llama: npm is needed (run scripts/setup.sh)" >&2; exit 1; }
command -v git >/dev/null || { echo "fetch-llama: git is needed (run scripts/setup.sh)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch <package> <sha512-base64> -> extracts into $TMP/<dir>
  local pkg="$1" want="$2" dir="$3" tgz
  tgz="$(cd "$TMP" && npm pack --silent "$pkg@$VERSION" 2>/dev/null | tail -1)"
  local got
  got="$(openssl dgst -sha512 -binary "$TMP/$tgz" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    echo "fetch-llama: $pkg@$VERSION checksum mismatch (got sha512-$got)" >&2; exit 1
  fi
  mkdir -p "$TMP/$dir" && tar xzf "$TMP/$tgz" -C "$TMP/$dir"
}
echo "fetch-llama: downloading node-llama-cpp@$VERSION and @node-llama-cpp/linux-x64@$VERSION" >&2
fetch node-llama-cpp "$MAIN_SHA512" main
fetch @node-llama-cpp/linux-x64 "$LIBS_SHA512" libs

rm -rf "$DIR" && mkdir -p "$DIR/lib"
git -c advice.detachedHead=false clone -q "$TMP/main/package/llama/gitRelease.bundle" "$DIR/src"
cp "$TMP"/libs/package/bins/linux-x64/*.so "$DIR/lib/"
cp "$TMP/main/package/llama/llama.cpp.info.json" "$DIR/"
touch "$DIR/.complete"
echo "$DIR"
