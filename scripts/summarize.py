#!/usr/bin/env python3
"""Sums the test counts of every suite's log into one `N passed, N failed, N skipped` line.

Counts what each runner prints (cargo test, node --test, ERT); a suite whose runner printed
no counts counts as one check, passed or failed by its exit status. A suite that exited
non-zero with no failure counted adds one failure, so a crash is never a pass."""
import re
import sys
from pathlib import Path

logs, suites = Path(sys.argv[1]), sys.argv[2:]
total_pass = total_fail = total_skip = 0
for name in suites:
    text = (logs / f"{name}.log").read_text(errors="replace")
    status = int((logs / f"{name}.status").read_text().strip() or 1)
    passed = failed = skipped = 0
    found = False
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text):
        found = True; passed += int(m[1]); failed += int(m[2]); skipped += int(m[3])
    for m in re.finditer(r"^# pass (\d+)\s*$", text, re.M):
        found = True; passed += int(m[1])
    for m in re.finditer(r"^# fail (\d+)\s*$", text, re.M):
        found = True; failed += int(m[1])
    for m in re.finditer(r"^# (?:skip|todo) (\d+)\s*$", text, re.M):
        skipped += int(m[1])
    for m in re.finditer(r"Ran (\d+) tests?, (\d+) results? as expected, (\d+) unexpected(?:, (\d+) skipped)?", text):
        found = True; passed += int(m[2]); failed += int(m[3]); skipped += int(m[4] or 0)
    for m in re.finditer(r"^checks: (\d+) passed, (\d+) failed$", text, re.M):
        found = True; passed += int(m[1]); failed += int(m[2])
    if not found:
        passed, failed = (1, 0) if status == 0 else (0, 1)
    elif status != 0 and failed == 0:
        failed = 1
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped (exit {status})")
    total_pass += passed; total_fail += failed; total_skip += skipped
print(f"{total_pass} passed, {total_fail} failed, {total_skip} skipped")
sys.exit(1 if total_fail else 0)
