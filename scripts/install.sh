#!/usr/bin/env bash
# Installs the jank-hotpatch sidecar and its resident build service for the current user, from
# this checkout: what the build needs first (scripts/setup.sh demo: emscripten, LLVM 14's -dev
# packages, Rust), then a release build, then
#   PREFIX/bin/jank-hotpatch
#   PREFIX/libexec/jank-hotpatch/jank-build-service   (where jank-hotpatch looks for it)
# Usage: scripts/install.sh [--prefix DIR] [--profile release|debug]   (default ~/.local, release)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$HOME/.local
profile=release
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --profile) profile=${2:?--profile needs release or debug}; shift 2 ;;
    *) echo "usage: scripts/install.sh [--prefix DIR] [--profile release|debug]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh demo
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
built=$(scripts/build-sidecar.sh "$profile")
{ read -r sidecar; read -r service; } <<<"$built"
install -D -m 755 "$sidecar" "$prefix/bin/jank-hotpatch"
install -D -m 755 "$service" "$prefix/libexec/jank-hotpatch/jank-build-service"
echo "installed $("$prefix/bin/jank-hotpatch" --version):"
echo "  $prefix/bin/jank-hotpatch"
echo "  $prefix/libexec/jank-hotpatch/jank-build-service"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "$prefix/bin is not on your PATH: add it (e.g. in ~/.profile: export PATH=\"$prefix/bin:\$PATH\")" ;;
esac
