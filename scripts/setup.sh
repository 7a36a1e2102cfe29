#!/usr/bin/env bash
# Installs what jank-hotpatch's demo and tests need on Debian 12, skipping what is there.
# Usage: scripts/setup.sh [demo|test]   (demo: the toolchain only; test: also browsers/editors)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"

need_apt=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }
want emscripten        # emcc, clang/lld 14, binaryen: the build stage and the demo's main module
want build-essential   # cc for crates that build C code
# The resident build (build-service/) is built against LLVM 14's clang and lld, the same LLVM
# as emscripten's clang here; without them the build falls back to clang++ + wasm-ld processes.
for pkg in llvm-14-dev libclang-14-dev libclang-cpp14-dev liblld-14-dev; do want "$pkg"; done
command -v cargo >/dev/null 2>&1 || { want curl; want ca-certificates; }
if [ "$what" = test ]; then
  want chromium         # real headless browser for delivery, benchmark and editor tests
  want emacs-nox        # real Emacs + eglot for the Emacs package's tests
  want elpa-eglot
  want elpa-lsp-mode    # the Emacs package also registers an lsp-mode client (an add-on)
  want elpa-package-lint # the check MELPA runs on the Emacs package
  want python3-pylsp    # another real language server holding the buffer's eglot (Emacs tests)
  want clojure          # a real nREPL server to test the nREPL client against
  want libnrepl-clojure
  want libkrb5-dev      # code-server (real VS Code) builds a native module against it
  want python3          # node-gyp, the Emacs tests' DevTools helper, the test summary
fi
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: installing Rust with rustup (Debian 12's cargo is too old)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
