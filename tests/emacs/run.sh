#!/usr/bin/env bash
# Tests of the Emacs package (emacs/jank-hotpatch.el), ERT in a batch Emacs: it byte-compiles
# with warnings as errors, checkdoc has nothing to say, unit tests, and end to end with eglot,
# the real sidecar, the stand-in jank and headless Chromium (needs `cargo build` first).
# Usage: tests/emacs/run.sh [SELECTOR]   e.g. '"e2e"' or '(not "e2e")' (an ERT selector)
# Closes with a count ("N passed, N failed, N skipped"); exits non-zero on a failure. What
# scripts/setup.sh installs (lsp-mode, pylsp, Chromium) is required: missing is a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
selector="${1:-t}"
# emcc (the sidecar's build stage) needs these on Debian: node finds acorn in NODE_PATH, and
# emscripten's scripts need a python3 it can name.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}" EMSDK_PYTHON="${EMSDK_PYTHON:-/usr/bin/python3}"
exec emacs --batch -L emacs -l tests/emacs/jank-hotpatch-tests.el \
  --eval "(jank-hotpatch-test-run (quote $selector))"
