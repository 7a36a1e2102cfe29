// The client's commands. Ids are `jankHotpatch.*`: the sidecar's `jank.*` ids belong to
// vscode-languageclient, which registers them itself from executeCommandProvider.

import * as vscode from "vscode";

import { isJankPath } from "./config";
import type { Ctx } from "./ctx";

export type Cmd = () => Promise<void> | void;

export function hotPatchForm(ctx: Ctx): Cmd {
    return async () => {
        const editor = jankEditor();
        if (editor) await ctx.hotPatch(editor.document.uri, editor.selection.active);
    };
}

export function hotPatchFile(ctx: Ctx): Cmd {
    return async () => {
        const editor = jankEditor();
        if (editor) await ctx.hotPatch(editor.document.uri);
    };
}

/** The definition at the cursor goes back to its previous version in every page. */
export function undoPatch(ctx: Ctx): Cmd {
    return async () => {
        const editor = jankEditor();
        if (editor) await ctx.undoPatch(editor.document.uri, editor.selection.active);
    };
}

export function openApp(ctx: Ctx): Cmd {
    return async () => {
        const url = await ctx.appUrl();
        if (!url) {
            void vscode.window.showWarningMessage(
                "jank: the sidecar has not reported the app's address yet: is it running? (see the jank-hotpatch output)",
            );
            return;
        }
        await vscode.env.openExternal(vscode.Uri.parse(url, true));
    };
}

export function showPatchLog(ctx: Ctx): Cmd {
    return () => ctx.patchLog.show(true);
}

/** `jank-hotpatch doctor` of the sidecar the extension runs, into the jank-hotpatch output. */
export function doctor(ctx: Ctx): Cmd {
    return () => ctx.doctor();
}

export function restartServer(ctx: Ctx): Cmd {
    return () => ctx.restart();
}

function jankEditor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor && isJankPath(editor.document.uri.path)) return editor;
    void vscode.window.showWarningMessage("jank: open a .jank file and put the cursor in the form to hot-patch.");
    return undefined;
}
