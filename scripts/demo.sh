#!/usr/bin/env bash
# The demo: installs what it needs, builds, starts the stand-in jank and the sidecar, serves
# the demo app and hot-patches its jank file on every save. Extra arguments go to
# `jank-hotpatch demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --quiet -p jank-hotpatch -p jank-standin
exec target/release/jank-hotpatch demo "$@"
