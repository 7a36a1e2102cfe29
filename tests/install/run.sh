#!/usr/bin/env bash
# scripts/install.sh as the README gives it, into a temporary prefix (with the debug build the
# test run has made, so nothing is built again), then used as a person would: from other
# directories, with only that prefix and the system on PATH, `jank-hotpatch --version`, and
# `jank-hotpatch doctor` in a demo workspace with the stand-in jank (target/debug/jank-standin,
# not an artifact) finds the resident build service in the installation's libexec.
# Closes with "checks: N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
standin_pid=
cleanup() {
  [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null && wait "$standin_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
check() { # check NAME COMMAND...: one check, its output shown when it fails
  local name=$1; shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "ok: $name"
  else
    failed=$((failed + 1)); echo "FAILED: $name"; echo "$out" | sed 's/^/    /'
  fi
}

prefix=$tmp/prefix
check "scripts/install.sh --prefix DIR installs" "$repo/scripts/install.sh" --prefix "$prefix" --profile debug
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
# A person's shell: the installation's bin/ and the system, nothing of the checkout.
export PATH="$prefix/bin:/usr/local/bin:/usr/bin:/bin"
cd /
check "jank-hotpatch --version from / says $version" \
  bash -c "[ \"\$(jank-hotpatch --version)\" = 'jank-hotpatch $version' ]"
check "the build service is in libexec and says $version" \
  bash -c "[ \"\$('$prefix/libexec/jank-hotpatch/jank-build-service' --version)\" = 'jank-build-service $version' ]"

demo=$tmp/demo
check "jank-hotpatch demo --prepare writes a workspace" jank-hotpatch demo --prepare "$demo"
(cd "$demo" && exec "$repo/target/debug/jank-standin" 2>/dev/null) &
standin_pid=$!
for _ in $(seq 100); do [ -f "$demo/.nrepl-port" ] && break; sleep 0.1; done
cd "$demo"
doctor=$(jank-hotpatch doctor 2>&1); status=$?
check "jank-hotpatch doctor in the workspace: a patch can go through" \
  bash -c "[ $status = 0 ] || { echo \"\$0\"; exit 1; }" "$doctor"
check "doctor names the installed sidecar" \
  grep -qF "[✓] sidecar: jank-hotpatch $version at $prefix/bin/jank-hotpatch" <<<"$doctor"
check "doctor's toolchain is the build service in the installation's libexec" \
  grep -qF "the resident build service $prefix/libexec/jank-hotpatch/jank-build-service (in the installation's libexec/jank-hotpatch;" <<<"$doctor"
echo "$doctor"
echo "checks: $passed passed, $failed failed"
[ $failed -eq 0 ]
