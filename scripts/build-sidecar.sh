#!/usr/bin/env bash
# Builds the sidecar and its resident build service with cargo, and prints their paths, one a
# line: the `jank-hotpatch` binary, then the `jank-build-service` binary the crate's build.rs
# made (in its OUT_DIR). Fails, saying why, when the service was not built (it needs LLVM 14's
# -dev packages: scripts/setup.sh installs them). Used by install.sh and dist.sh.
# Usage: scripts/build-sidecar.sh [release|debug]   (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
case $profile in
  release) cargo_profile=release ;;
  debug) cargo_profile=dev ;;
  *) echo "build-sidecar: profile must be release or debug, not $profile" >&2; exit 2 ;;
esac
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

messages=$(cargo build --locked --profile "$cargo_profile" -p jank-hotpatch --bin jank-hotpatch \
  --message-format=json-render-diagnostics)
# The build script's OUT_DIR, from its `build-script-executed` message (printed even when fresh).
out_dir=$(grep '"reason":"build-script-executed"' <<<"$messages" | grep '#jank-hotpatch@' \
  | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p' | tail -1)
sidecar=$(grep '"reason":"compiler-artifact"' <<<"$messages" | grep '#jank-hotpatch@' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
service="$out_dir/jank-build-service"
if [ -z "$out_dir" ] || [ ! -x "$service" ]; then
  echo "build-sidecar: the resident build service was not built (see cargo's warning above);" \
    "scripts/setup.sh demo installs the LLVM 14 packages it needs" >&2
  exit 1
fi
echo "$sidecar"
echo "$service"
