// Creates the language client that runs `jank-hotpatch lsp`, with the settings the sidecar
// reads (initializationOptions, then `workspace/configuration` after every change).

import * as vscode from "vscode";
import * as lc from "vscode-languageclient/node";

import { JANK_FILES, SECTION, type Section, serverSettings } from "./config";

export function createClient(
    serverPath: string,
    workspaceFolder: vscode.WorkspaceFolder | undefined,
    outputChannel: vscode.OutputChannel,
): lc.LanguageClient {
    const run: lc.Executable = {
        command: serverPath,
        args: ["lsp"],
        options: { cwd: workspaceFolder?.uri.fsPath, env: process.env },
    };
    const clientOptions: lc.LanguageClientOptions = {
        // By file pattern, not language: `.jank` files may be in `clojure` mode (Calva).
        documentSelector: [{ scheme: "file", pattern: JANK_FILES }],
        workspaceFolder,
        outputChannel,
        initializationOptions: currentServerSettings(),
        middleware: {
            workspace: {
                // VS Code answers with the whole section, defaults and client-only keys
                // included: answer with what the sidecar should apply.
                configuration: async (params, token, next) => {
                    const answers = await next(params, token);
                    if (!Array.isArray(answers)) return answers;
                    return answers.map((answer: unknown, i) =>
                        params.items[i]?.section === SECTION ? currentServerSettings() : answer,
                    );
                },
            },
        },
    };
    return new lc.LanguageClient("jankHotpatch", "jank-hotpatch", { run, debug: run }, clientOptions);
}

/** Sends workspace/didChangeConfiguration when the settings the sidecar reads change (the
 * sidecar then pulls the section). Not `synchronize.configurationSection`: that also
 * notifies right after `initialized`, when the sidecar has just read them, and makes it
 * configure (and start its app server) twice. */
export function notifySettingsChanges(client: lc.LanguageClient): vscode.Disposable {
    let sent = JSON.stringify(currentServerSettings());
    return vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SECTION)) return;
        const now = currentServerSettings();
        if (JSON.stringify(now) === sent) return;
        sent = JSON.stringify(now);
        void client.sendNotification(lc.DidChangeConfigurationNotification.type, { settings: { [SECTION]: now } });
    });
}

function currentServerSettings(): Section {
    return serverSettings(vscode.workspace.getConfiguration().get<Section>(SECTION), isSet);
}

/** Set by the user (in any scope), not just VS Code's default. */
function isSet(key: string): boolean {
    const value = vscode.workspace.getConfiguration(SECTION).inspect(key);
    return [value?.globalValue, value?.workspaceValue, value?.workspaceFolderValue].some((v) => v !== undefined);
}
