import * as assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { PatchReport, ServerStatusParams } from "../lsp_ext";
import { formatMs, inlineValue, logLine, statusView, withReport, type StatusState } from "../status";

const range = { start: { line: 2, character: 0 }, end: { line: 3, character: 20 } };

function report(overrides: Partial<PatchReport> = {}): PatchReport {
    return {
        ok: true,
        uri: "file:///w/src/demo/core.jank",
        forms: [{ ns: "demo.core", name: "greeting", range }],
        stages: { readMs: 0.4, compileMs: 31.2, buildMs: 40.6, checkMs: 1.5, deliverMs: 2.9, loadMs: 0.66 },
        steps: { waitMs: 0, sendMs: 0.1, socketMs: 1.2, clientMs: 0.4, journalMs: 0.2 },
        totalMs: 84.3,
        pages: 2,
        summary: "patched demo.core/greeting in 84 ms → 2 page(s)",
        stageOrder: ["read", "compile", "build", "check", "deliver", "load"],
        ...overrides,
    };
}

const connected: ServerStatusParams = { health: "ok", busy: false, message: "ready", appUrl: "http://127.0.0.1:7888/?t=x", pages: 2, runtimeErrors: 0 };

function running(overrides: Partial<StatusState> = {}): StatusState {
    return { server: "running", patching: false, status: connected, ...overrides };
}

describe("status bar text", () => {
    it("shows the last patch latency", () => {
        const view = statusView(running({ lastReport: report() }));
        assert.equal(view.text, "$(zap) jank 84 ms");
        assert.equal(view.background, undefined);
    });

    it("spins while a patch runs, whether the client or the server says so", () => {
        assert.equal(statusView(running({ patching: true, lastReport: report() })).text, "$(sync~spin) jank");
        assert.equal(statusView(running({ status: { ...connected, busy: true } })).text, "$(sync~spin) jank");
    });

    it("turns red after a failure and names the stage", () => {
        const failed = report({
            ok: false,
            error: { stage: "compile", message: "Unable to resolve symbol: nope" },
            summary: "compile failed: Unable to resolve symbol: nope",
        });
        const view = statusView(running({ lastReport: failed }));
        assert.equal(view.text, "$(error) jank compile failed");
        assert.equal(view.background, "error");
        assert.match(view.tooltip, /\*\*compile failed: Unable to resolve symbol: nope\*\*/);
    });

    it("warns when no page is connected or the server reports a warning", () => {
        const noPages = statusView(running({ status: { ...connected, pages: 0 }, lastReport: report() }));
        assert.equal(noPages.text, "$(warning) jank 84 ms");
        assert.equal(noPages.background, "warning");
        assert.match(noPages.tooltip, /\$\(warning\) No pages connected: open the app/);
        const unreachable = statusView(running({ status: { ...connected, health: "warning", message: "jank nREPL unreachable at 127.0.0.1:5555" } }));
        assert.equal(unreachable.background, "warning");
        assert.match(unreachable.tooltip, /jank nREPL unreachable at 127\.0\.0\.1:5555/);
    });

    it("shows that the page is failing while its code throws", () => {
        const view = statusView(running({ status: { ...connected, runtimeErrors: 1 }, lastReport: report() }));
        assert.equal(view.text, "$(error) jank 84 ms ✗rt");
        assert.equal(view.background, "error");
        assert.match(view.tooltip, /1 error thrown by code running in the page/);
    });

    it("says what to do when the sidecar is not running", () => {
        const view = statusView({ server: "stopped", problem: "jank-hotpatch not found on PATH", patching: false });
        assert.equal(view.text, "$(circle-slash) jank");
        assert.equal(view.background, "error");
        assert.match(view.tooltip, /not found on PATH/);
        assert.match(view.tooltip, /command:jankHotpatch\.restartServer/);
    });
});

describe("status bar tooltip", () => {
    it("gives every stage's time, the total and the number of pages", () => {
        const { tooltip } = statusView(running({ lastReport: report() }));
        assert.match(tooltip, /\*\*patched demo\.core\/greeting in 84 ms → 2 page\\\(s\\\)\*\*/);
        for (const [stage, ms] of [["read", "0.4"], ["compile", "31"], ["build", "41"], ["check", "1.5"], ["deliver", "2.9"], ["load", "0.7"]]) {
            assert.match(tooltip, new RegExp(`\\| ${stage} \\| ${ms.replace(".", "\\.")} \\|`));
        }
        assert.match(tooltip, /\| \*\*total\*\* \| \*\*84\*\* \|/);
        assert.match(tooltip, /Delivered to 2 pages\./);
        assert.match(tooltip, /\$\(check\) 2 pages connected · ready/);
        assert.match(tooltip, /command:jankHotpatch\.showPatchLog/);
        assert.doesNotMatch(tooltip, /Versions:/, "a report without versions lists none");
    });

    it("names the version each var runs now, as after an undo", () => {
        const undone = report({
            undo: true,
            versions: [{ ns: "demo.core", name: "greeting", version: 2 }, { ns: "demo.core", name: "speed", version: 1 }],
            summary: "undid demo.core/greeting → version 2, demo.core/speed → version 1 in 3 ms → 2 page(s)",
        });
        const { tooltip } = statusView(running({ lastReport: undone }));
        assert.match(tooltip, /\*\*undid demo\.core\/greeting → version 2/);
        assert.match(tooltip, /Versions: demo\.core\/greeting v2, demo\.core\/speed v1$/m);
    });

    it("names the sidecar that runs: its version, where it came from, its path", () => {
        const sidecar = { path: "/ext/server/jank-hotpatch", source: "bundled" as const, version: "0.1.0" };
        assert.match(statusView(running({ sidecar })).tooltip, /^Sidecar: jank-hotpatch 0\.1\.0, bundled \(\/ext\/server\/jank-hotpatch\)$/m);
        const starting = statusView({ server: "starting", patching: false, sidecar: { path: "/usr/bin/jank-hotpatch", source: "PATH" } });
        assert.match(starting.tooltip, /^Sidecar: jank-hotpatch, from PATH \(\/usr\/bin\/jank-hotpatch\)$/m);
    });
});

describe("reports kept for display", () => {
    it("keeps the last latency when a report patched nothing", () => {
        const state = withReport(running(), report());
        const same = withReport(state, report({ forms: [], message: "nothing changed since the last patch", totalMs: 1 }));
        assert.equal(statusView(same).text, "$(zap) jank 84 ms");
    });

    it("ignores superseded runs", () => {
        const state = withReport(running(), report());
        assert.equal(withReport(state, report({ ok: false, superseded: true })), state);
    });
});

describe("patch log line", () => {
    const at = new Date(2026, 10, 25, 9, 5, 7, 42);

    it("has the time, outcome, the server's summary and every stage", () => {
        assert.equal(
            logLine(report(), at),
            "09:05:07.042 ok     patched demo.core/greeting in 84 ms → 2 page(s)  read 0.4 · compile 31 · build 41 · check 1.5 · deliver 2.9 · load 0.7",
        );
    });

    it("puts a failure's summary on one line", () => {
        const failed = report({ ok: false, summary: "build failed: error: x\n  at line 3" });
        assert.match(logLine(failed, at), /^09:05:07\.042 FAILED build failed: error: x at line 3 {2}read 0\.4 · /);
    });

    it("shows a value after the stages", () => {
        assert.match(logLine(report({ value: "42" }), at), /=> 42$/);
    });
});

describe("inline value", () => {
    it("is one line after =>", () => assert.equal(inlineValue("{:a 1\n :b 2}"), "=> {:a 1 :b 2}"));
    it("is truncated when long", () => {
        const text = inlineValue("x".repeat(500), 40);
        assert.equal(text.length, 40);
        assert.ok(text.endsWith("…"));
    });
});

describe("milliseconds", () => {
    it("rounds from 10 ms and keeps one decimal below", () => {
        assert.equal(formatMs(84.4), "84");
        assert.equal(formatMs(9.94), "9.9");
        assert.equal(formatMs(0.66), "0.7");
        assert.equal(formatMs(Number.NaN), "?");
    });
});
