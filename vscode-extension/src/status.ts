// How the sidecar's state and patch reports read to people: the status bar item, its
// tooltip, the patch log line and the inline value. Pure functions over plain data (no
// `vscode` import), so they are unit-tested with node's test runner.

import type { ServerSource } from "./config";
import type { PatchReport, ServerStatusParams, Stage, StageTimes } from "./lsp_ext";
import { STAGES, VALUE_MAX_CHARS } from "./protocol.generated";

/** Everything the status bar item shows. */
export interface StatusState {
    /** The sidecar process, as the client sees it. */
    server: "starting" | "running" | "stopped";
    /** Why the sidecar is stopped (what to do about it). */
    problem?: string;
    /** The last `jank/serverStatus`. */
    status?: ServerStatusParams;
    /** The last report that patched something or failed. */
    lastReport?: PatchReport;
    /** A hot-patch command is in flight (shown before the server says it is busy). */
    patching: boolean;
    /** The sidecar the client runs: where it was found, and its version once it answered. */
    sidecar?: Sidecar;
}

export interface Sidecar {
    path: string;
    source: ServerSource;
    /** The `serverInfo.version` of its answer to `initialize`. */
    version?: string;
}

export interface StatusView {
    /** With `$(icon)` references. */
    text: string;
    /** Markdown, with `command:` links. */
    tooltip: string;
    background?: "warning" | "error";
}

/** Commands the tooltip links to (the markdown must trust exactly these). */
export const TOOLTIP_COMMANDS = [
    "jankHotpatch.showPatchLog",
    "jankHotpatch.openApp",
    "jankHotpatch.restartServer",
] as const;

export const initialState: StatusState = { server: "starting", patching: false };

/** The state after a report: reports that patched nothing (e.g. "nothing changed") keep
 * the last latency on display. Superseded runs are not news. */
export function withReport(state: StatusState, report: PatchReport): StatusState {
    if (report.superseded) return state;
    if (report.ok && report.forms.length === 0) return state;
    return { ...state, lastReport: report };
}

export function statusView(state: StatusState): StatusView {
    const links = tooltipLinks();
    if (state.server === "stopped") {
        return {
            text: "$(circle-slash) jank",
            tooltip: `**jank-hotpatch is not running**\n\n${state.problem ?? "It stopped."}\n\n${links}`,
            background: "error",
        };
    }
    const sidecar = sidecarMarkdown(state.sidecar);
    if (state.server === "starting") {
        return { text: "$(sync~spin) jank", tooltip: [`Starting jank-hotpatch…`, sidecar, links].filter(Boolean).join("\n\n") };
    }
    const report = state.lastReport;
    const connection = connectionProblem(state.status);
    const sections = [
        report ? reportMarkdown(report) : "**jank-hotpatch is ready**: no patch yet.",
        connectionMarkdown(state.status, connection),
        sidecar,
        links,
    ];
    const tooltip = sections.filter(Boolean).join("\n\n");
    if (state.patching || state.status?.busy) {
        return { text: "$(sync~spin) jank", tooltip };
    }
    if (report && !report.ok) {
        const stage = report.error?.stage ?? "patch";
        return { text: `$(error) jank ${stage} failed`, tooltip, background: "error" };
    }
    if (state.status?.health === "error") {
        return { text: "$(error) jank", tooltip, background: "error" };
    }
    const latency = report ? ` ${formatMs(report.totalMs)} ms` : "";
    const failing = state.status?.runtimeErrors ?? 0;
    if (failing > 0) {
        const what = `$(error) ${plural(failing, "error")} thrown by code running in the page: see Problems (on the form) and the jank-hotpatch output.`;
        return { text: `$(error) jank${latency} ✗rt`, tooltip: `${what}\n\n${tooltip}`, background: "error" };
    }
    if (connection) {
        return { text: `$(warning) jank${latency}`, tooltip, background: "warning" };
    }
    return { text: `$(zap) jank${latency}`, tooltip };
}

/** Why patches would not reach a page, or undefined when they would. */
export function connectionProblem(status: ServerStatusParams | undefined): string | undefined {
    if (!status) return undefined;
    if (status.health === "warning") return status.message;
    if (status.pages === 0) return "No pages connected: open the app (jank: open app in browser).";
    return undefined;
}

function connectionMarkdown(status: ServerStatusParams | undefined, problem: string | undefined): string {
    if (!status) return "";
    const pages = `${plural(status.pages, "page")} connected`;
    if (problem) return status.pages > 0 ? `$(warning) ${escapeMarkdown(problem)} · ${pages}` : `$(warning) ${escapeMarkdown(problem)}`;
    return status.message ? `$(check) ${pages} · ${escapeMarkdown(status.message)}` : `$(check) ${pages}`;
}

/** Which sidecar runs, e.g. `Sidecar: jank-hotpatch 0.1.0, bundled (/…/server/jank-hotpatch)`. */
export function sidecarMarkdown(sidecar: Sidecar | undefined): string {
    if (!sidecar) return "";
    const version = sidecar.version ? ` ${escapeMarkdown(sidecar.version)}` : "";
    const from = { setting: "from jankHotpatch.server.path", bundled: "bundled", PATH: "from PATH" }[sidecar.source];
    return `Sidecar: jank-hotpatch${version}, ${from} (${escapeMarkdown(sidecar.path)})`;
}

function tooltipLinks(): string {
    return [
        "[Patch log](command:jankHotpatch.showPatchLog)",
        "[Open app](command:jankHotpatch.openApp)",
        "[Restart sidecar](command:jankHotpatch.restartServer)",
    ].join(" · ");
}

/** The tooltip's account of one report: the server's summary, and a table of stage times. */
export function reportMarkdown(report: PatchReport): string {
    const head = `**${escapeMarkdown(oneLine(report.summary))}**`;
    const rows = STAGES.map((stage) => `| ${stage} | ${formatMs(stageMs(report.stages, stage))} |`);
    const table = ["| stage | ms |", "| :-- | --: |", ...rows, `| **total** | **${formatMs(report.totalMs)}** |`].join("\n");
    const pages = `Delivered to ${plural(report.pages, "page")}.`;
    const value = report.value !== undefined ? `\n\nValue: \`${oneLine(report.value).replace(/`/g, "'")}\`` : "";
    return `${head}\n\n${table}\n\n${pages}${value}${versionsMarkdown(report)}`;
}

/** Which version of each var the pages run now (1 = its first patch), e.g. after an undo. */
function versionsMarkdown(report: PatchReport): string {
    if (!report.versions?.length) return "";
    const versions = report.versions.map((v) => `${escapeMarkdown(`${v.ns}/${v.name}`)} v${v.version}`);
    return `\n\nVersions: ${versions.join(", ")}`;
}

/** One line of the patch log: the time, the server's summary, every stage, e.g.
 * `12:03:04.120 ok     patched demo.core/greeting in 84 ms → 1 page(s)  read 1 · compile 30 · ...`. */
export function logLine(report: PatchReport, at: Date): string {
    const outcome = report.ok ? "ok    " : "FAILED";
    const stages = STAGES.map((s) => `${s} ${formatMs(stageMs(report.stages, s))}`).join(" · ");
    const parts = [`${clock(at)} ${outcome} ${oneLine(report.summary)}`, stages];
    if (report.value !== undefined) parts.push(`=> ${oneLine(report.value)}`);
    return parts.join("  ");
}

/** The inline result after an evaluated form: `=> 42`, one line, at most `max` chars. */
export function inlineValue(value: string, max = VALUE_MAX_CHARS): string {
    return truncate(`=> ${oneLine(value)}`, max);
}

/** Whole milliseconds from 10 ms up, one decimal below (loads take a fraction of one). */
export function formatMs(ms: number): string {
    if (!Number.isFinite(ms)) return "?";
    return ms >= 10 ? Math.round(ms).toString() : (Math.round(ms * 10) / 10).toString();
}

function stageMs(stages: StageTimes | undefined, stage: Stage): number {
    return stages?.[`${stage}Ms`] ?? 0;
}

function clock(at: Date): string {
    const two = (n: number) => n.toString().padStart(2, "0");
    return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${at.getMilliseconds().toString().padStart(3, "0")}`;
}

function plural(n: number, noun: string): string {
    return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function oneLine(text: string): string {
    return text.replace(/\s+/g, " ").trim();
}

function truncate(text: string, max: number): string {
    return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

function escapeMarkdown(text: string): string {
    return text.replace(/[\\`*_{}[\]()#+!|<>]/g, "\\$&");
}
