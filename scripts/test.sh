#!/usr/bin/env bash
# Runs every test suite of jank-hotpatch, installing what the tests need first, and ends with
# one line `N passed, N failed, N skipped` summing all of them. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export NODE_PATH=/usr/share/nodejs EMSDK_PYTHON=/usr/bin/python3
logs=$(mktemp -d)
suites=()

# run NAME COMMAND...: runs one suite, keeps its output for the summary.
run() {
  local name=$1; shift
  echo "=== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$logs/$name.log"
  local status=${PIPESTATUS[0]}
  echo "$status" > "$logs/$name.status"
  echo "=== $name: exit $status in $((SECONDS - start)) s"
  suites+=("$name")
}

run build cargo build --workspace --all-targets --quiet
# The release artifacts, from the debug build just made: the suites below test them as a user
# gets them (the archive in rust, the .vsix in vscode, the Emacs package in emacs).
run dist scripts/dist.sh --profile debug --out target/dist
run install tests/install/run.sh
rm -f target/reliability-figures.txt
run rust cargo test --workspace --quiet --no-fail-fast -- --test-threads=2
run bench-smoke target/debug/jank-hotpatch-bench --smoke --json "$logs/bench.json"
run vscode tests/vscode/run.sh
run emacs tests/emacs/run.sh

echo "=== reliability figures"
cat target/reliability-figures.txt 2>/dev/null || echo "(none: the reliability suite did not run)"
python3 scripts/summarize.py "$logs" "${suites[@]}"
