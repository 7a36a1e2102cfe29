// Entry point: activation, the command table, and reactions to settings that only the
// client reads.

import * as vscode from "vscode";

import * as commands from "./commands";
import { JANK_FILES, SERVER_PATH_SETTING, isJankPath } from "./config";
import { Ctx } from "./ctx";

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const c = new Ctx(context.extensionPath, (context.extension.packageJSON as { version: string }).version);
    ctx = c;
    context.subscriptions.push(c);
    const table: Record<string, (ctx: Ctx) => commands.Cmd> = {
        "jankHotpatch.hotPatchForm": commands.hotPatchForm,
        "jankHotpatch.hotPatchFile": commands.hotPatchFile,
        "jankHotpatch.undoPatch": commands.undoPatch,
        "jankHotpatch.openApp": commands.openApp,
        "jankHotpatch.showPatchLog": commands.showPatchLog,
        "jankHotpatch.doctor": commands.doctor,
        "jankHotpatch.restartServer": commands.restartServer,
    };
    for (const [id, make] of Object.entries(table)) {
        context.subscriptions.push(vscode.commands.registerCommand(id, make(c)));
    }
    context.subscriptions.push(
        vscode.workspace.onDidChangeConfiguration(async (e) => {
            if (!e.affectsConfiguration(SERVER_PATH_SETTING)) return;
            // Nothing runs that a restart would interrupt (e.g. it was not found): just start.
            if (!c.running) return c.restart();
            const choice = await vscode.window.showInformationMessage(
                `jank: ${SERVER_PATH_SETTING} changed: restart the sidecar to use it?`,
                "Restart",
            );
            if (choice === "Restart") await c.restart();
        }),
    );
    noteOtherJankLanguages(context, c.serverLog);
    await startWithTheFirstJankFile(context, c);
}

/** Starts the sidecar now if a `.jank` file is open or in the workspace, else when the first
 * one opens. `.jank` files may be in `clojure` mode (Calva), so the extension also activates
 * on Clojure files, and a Clojure project without jank gets no sidecar. */
async function startWithTheFirstJankFile(context: vscode.ExtensionContext, c: Ctx): Promise<void> {
    const isJank = (d: vscode.TextDocument) => d.uri.scheme === "file" && isJankPath(d.uri.path);
    const start = async () => {
        await vscode.commands.executeCommand("setContext", "jankHotpatch.active", true);
        await c.start();
    };
    if (vscode.workspace.textDocuments.some(isJank)) return start();
    if ((await vscode.workspace.findFiles(JANK_FILES, "**/node_modules/**", 1)).length > 0) return start();
    const opened = vscode.workspace.onDidOpenTextDocument((d) => {
        if (!isJank(d)) return;
        opened.dispose();
        void start();
    });
    context.subscriptions.push(opened);
}

export async function deactivate(): Promise<void> {
    await ctx?.stop();
    ctx = undefined;
}

/** Contributions are static, so this extension always declares the `jank` language. VS Code
 * merges declarations of one language id, so another jank extension's declaration and ours
 * coexist; only the grammar is then one of the two. Say so where it can be found. */
function noteOtherJankLanguages(context: vscode.ExtensionContext, log: vscode.OutputChannel): void {
    const others = vscode.extensions.all.filter((e) => {
        if (e.id === context.extension.id) return false;
        const languages = (e.packageJSON as { contributes?: { languages?: { id?: string }[] } }).contributes?.languages;
        return languages?.some((l) => l.id === "jank") ?? false;
    });
    for (const other of others) {
        log.appendLine(
            `${other.id} also provides the jank language; VS Code merges both declarations, and which grammar colours .jank files depends on load order.`,
        );
    }
}
