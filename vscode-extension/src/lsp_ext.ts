// jank-hotpatch's extensions to LSP, as the sidecar speaks them (server/src/front/lsp/ext.rs).
// The names and constants come from protocol.generated.ts; server/tests/tidy.rs checks these
// interfaces against the Rust types, field by field.

import * as lc from "vscode-languageclient";
import { PATCH_STATUS, SERVER_STATUS, STATUS_REQUEST, Stage } from "./protocol.generated";

/** Server-side command ids. The client registers its own `jankHotpatch.*` commands: reusing
 * these ids would clash with the ones vscode-languageclient registers for the server. */
export { HOT_PATCH_FILE, HOT_PATCH_FORM, UNDO_PATCH, STAGES, FLASH_MS, VALUE_MAX_CHARS } from "./protocol.generated";
export type { Stage } from "./protocol.generated";

/** The argument of `HOT_PATCH_FORM`: the top-level form around `position`. */
export interface HotPatchFormArgs {
    uri: string;
    position: lc.Position;
}

/** The argument of `HOT_PATCH_FILE`: every form changed since the file's last patch. */
export interface HotPatchFileArgs {
    uri: string;
}

/** The argument of `UNDO_PATCH`: the definition around `position` goes back one version;
 * without `position`, the definitions of the file's last patch do. */
export interface UndoPatchArgs {
    uri: string;
    position?: lc.Position;
}

export type Health = "ok" | "warning" | "error";

export interface ServerStatusParams {
    health: Health;
    /** A patch is running. */
    busy: boolean;
    message: string;
    /** The app's page, with its token. */
    appUrl?: string;
    /** Pages connected to the sidecar. */
    pages: number;
    /** Distinct errors thrown by code running in the pages now (each also a diagnostic on
     * its form, source `jank-hotpatch (runtime)`, and a line in the output channel). */
    runtimeErrors: number;
}

/** Milliseconds per stage; for several forms, the slowest form's compile/build/check. */
export interface StageTimes {
    readMs: number;
    compileMs: number;
    buildMs: number;
    checkMs: number;
    deliverMs: number;
    loadMs: number;
}

/** Where the sidecar's own time went: what `totalMs` spends besides compile, build and load. */
export interface OwnSteps {
    waitMs: number;
    sendMs: number;
    socketMs: number;
    clientMs: number;
    journalMs: number;
}

export interface PatchedForm {
    ns: string;
    /** The defined name; `null` for an evaluated expression. */
    name: string | null;
    range: lc.Range;
    /** Once delivered: an expression's value from the page, a definition's var (`#'ns/name`). */
    value?: string;
}

/** Which version of a var the pages run: 1 for its first patch, 0 for the app's own code. */
export interface VarVersion {
    ns: string;
    name: string;
    version: number;
}

/** What a patch run did: returned by the commands and pushed as `jank/patchStatus`. */
export interface PatchReport {
    ok: boolean;
    uri: string;
    forms: PatchedForm[];
    stages: StageTimes;
    steps: OwnSteps;
    totalMs: number;
    /** Pages the patch reached. */
    pages: number;
    /** The value of an evaluated expression. */
    value?: string;
    error?: { stage: Stage; message: string };
    /** One line for people, e.g. "nothing changed since the last patch". */
    message?: string;
    /** A newer edit of the same form stopped this run early: the newer report is the news. */
    superseded?: boolean;
    /** What went wrong without failing the patch, each with what it costs the user. */
    warnings?: string[];
    /** The one line every front end shows for this report. */
    summary: string;
    /** The stages in the order they ran. */
    stageOrder: Stage[];
    /** The run was an undo: the vars went back to earlier versions. */
    undo?: boolean;
    /** The version each patched or undone var has now. */
    versions?: VarVersion[];
    /** What the code printed in the page, line by line. */
    output?: string[];
    /** Forms of the workspace patched again because they use a macro this run changed. */
    dependents?: Dependent[];
}

/** A form patched again because it uses a macro the run changed (in any file). */
export interface Dependent {
    uri: string;
    ns: string;
    name: string | null;
    range: lc.Range;
    /** The changed macros it uses, `ns/name`. */
    macros: string[];
    ok: boolean;
    error?: { stage: Stage; message: string };
}

export const serverStatus = new lc.NotificationType<ServerStatusParams>(SERVER_STATUS);
export const patchStatus = new lc.NotificationType<PatchReport>(PATCH_STATUS);
/** The current server status, same shape as the notification. */
export const status = new lc.RequestType0<ServerStatusParams, void>(STATUS_REQUEST);
