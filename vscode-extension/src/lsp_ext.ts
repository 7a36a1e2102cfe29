// jank-hotpatch's extensions to LSP, as the sidecar speaks them (server/src/lsp/ext.rs and
// the report of server/src/lsp/to_proto.rs). Keep the two in step.

import * as lc from "vscode-languageclient";

/** Server-side command ids. The client registers its own `jankHotpatch.*` commands: reusing
 * these ids would clash with the ones vscode-languageclient registers for the server. */
export const HOT_PATCH_FORM = "jank.hotPatchForm";
export const HOT_PATCH_FILE = "jank.hotPatchFile";

/** `jank.hotPatchForm [HotPatchFormArgs]`: the top-level form around `position`. */
export interface HotPatchFormArgs {
    uri: string;
    position: lc.Position;
}

/** `jank.hotPatchFile [HotPatchFileArgs]`: every form changed since the file's last patch. */
export interface HotPatchFileArgs {
    uri: string;
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
    browsers: number;
}

export type Stage = "read" | "compile" | "build" | "check" | "deliver" | "load";

/** Milliseconds per stage; for several forms, the slowest form's compile/build/check. */
export interface StageTimes {
    read_ms: number;
    compile_ms: number;
    build_ms: number;
    check_ms: number;
    deliver_ms: number;
    load_ms: number;
}

export interface PatchedForm {
    ns: string;
    /** The defined name, or an evaluated expression's generated wrapper. */
    name: string;
    range: lc.Range;
}

/** What a patch run did: returned by the commands and pushed as `jank/patchStatus`. */
export interface PatchReport {
    ok: boolean;
    uri: string;
    forms: PatchedForm[];
    stages: StageTimes;
    total_ms: number;
    browsers: number;
    /** The value of an evaluated expression. */
    value?: string;
    error?: { stage: Stage; message: string };
    /** One line for people, e.g. "nothing changed since the last patch". */
    message?: string;
    /** A newer edit of the same form stopped this run early: the newer report is the news. */
    superseded?: boolean;
}

export const serverStatus = new lc.NotificationType<ServerStatusParams>("jank/serverStatus");
export const patchStatus = new lc.NotificationType<PatchReport>("jank/patchStatus");
/** The current server status, same shape as the notification. */
export const status = new lc.RequestType0<ServerStatusParams, void>("jank/status");
