#!/usr/bin/env bash
# Writes jank-hotpatch's release artifacts, for x86_64 Linux, into dist/ (or --out DIR):
#   jank-hotpatch-<version>-x86_64-unknown-linux-gnu.tar.gz  the sidecar and its build service,
#       README, CHANGELOG, licences: unpack it anywhere and put the directory on PATH;
#   jank-hotpatch-<version>-linux-x64.vsix  the VS Code extension carrying both binaries;
#   jank-hotpatch-<version>.tar  the Emacs package, for M-x package-install-file.
# <version> is the workspace's (Cargo.toml); the editor packages must say the same. Needs what
# `scripts/setup.sh test` installs (cargo, the LLVM 14 -dev packages, node and npm, Emacs).
# Usage: scripts/dist.sh [--profile release|debug] [--out DIR]
#   --profile debug packages the debug build (what the tests have built already; stripped of
#   its debug information like the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
profile=release
out=$repo/dist
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=${2:?--profile needs release or debug}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    *) echo "usage: scripts/dist.sh [--profile release|debug] [--out DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"

built=$(scripts/build-sidecar.sh "$profile")
{ read -r sidecar; read -r service; } <<<"$built"
version=$("$sidecar" --version | cut -d' ' -f2)
extension_version=$(node -p 'require("./vscode-extension/package.json").version')
emacs_version=$(sed -n 's/^;; Version: //p' emacs/jank-hotpatch.el)
if [ "$extension_version" != "$version" ] || [ "$emacs_version" != "$version" ]; then
  echo "dist: versions differ: sidecar $version, vscode-extension/package.json $extension_version," \
    "emacs/jank-hotpatch.el $emacs_version" >&2
  exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$repo/vscode-extension/server"' EXIT

# The binaries without debug information (the release profile keeps line tables for local
# backtraces; a download does not need them).
bin=$stage/bin
mkdir -p "$bin"
strip --strip-debug -o "$bin/jank-hotpatch" "$sidecar"
strip --strip-debug -o "$bin/jank-build-service" "$service"

name=jank-hotpatch-$version-x86_64-unknown-linux-gnu
mkdir "$stage/$name"
cp "$bin/jank-hotpatch" "$bin/jank-build-service" README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE "$stage/$name/"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"

# The extension finds its sidecar in server/ (see findServer in vscode-extension/src/config.ts).
(
  cd vscode-extension
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  mkdir -p server
  cp "$bin/jank-hotpatch" "$bin/jank-build-service" server/
  npm run --silent licences
  npx vsce package --no-dependencies --target linux-x64 --out "$out/jank-hotpatch-$version-linux-x64.vsix" >/dev/null
)
echo "$out/jank-hotpatch-$version-linux-x64.vsix"

# The Emacs package: a multi-file package, its description generated from jank-hotpatch.el's
# headers by package.el itself.
package=$stage/jank-hotpatch-$version
mkdir "$package"
cp emacs/*.el LICENSE-MIT LICENSE-APACHE "$package/"
emacs --batch -Q -l package --eval "(with-temp-buffer
  (insert-file-contents \"emacs/jank-hotpatch.el\")
  (package-generate-description-file (package-buffer-info) \"$package/jank-hotpatch-pkg.el\"))"
tar -C "$stage" -cf "$out/jank-hotpatch-$version.tar" "jank-hotpatch-$version"
echo "$out/jank-hotpatch-$version.tar"
