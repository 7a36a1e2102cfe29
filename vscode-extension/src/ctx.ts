// The extension's lifecycle: finds and starts the sidecar, follows its notifications into
// the status bar, the patch log and the inline results, and stops or restarts it.

import { execFile } from "node:child_process";

import * as vscode from "vscode";
import * as lc from "vscode-languageclient/node";

import { createClient, notifySettingsChanges } from "./client";
import { SERVER_PATH_SETTING, SECTION, type ServerLocation, findServer, versionMismatch } from "./config";
import * as ext from "./lsp_ext";
import { InlineResults } from "./results";
import { type StatusState, TOOLTIP_COMMANDS, initialState, logLine, statusView, withReport } from "./status";

export class Ctx implements vscode.Disposable {
    private client: lc.LanguageClient | undefined;
    private settingsWatch: vscode.Disposable | undefined;
    private state: StatusState = initialState;
    private readonly statusBar = vscode.window.createStatusBarItem("jankHotpatch.status", vscode.StatusBarAlignment.Left);
    /** The sidecar's own log (stderr) and the LSP traffic, kept across restarts. */
    readonly serverLog = vscode.window.createOutputChannel("jank-hotpatch");
    /** One line per patch, with per-stage times. */
    readonly patchLog = vscode.window.createOutputChannel("jank patch log");
    private readonly results = new InlineResults();
    /** Version mismatches already warned about (`path@version`): once each per session. */
    private readonly warnedVersions = new Set<string>();

    /** `extensionDir` may hold a bundled sidecar (server/); `version` is this extension's. */
    constructor(
        private readonly extensionDir: string,
        private readonly version: string,
    ) {
        this.statusBar.name = "jank hot-patch";
        this.statusBar.command = "jankHotpatch.showPatchLog";
        this.render();
    }

    /** The sidecar runs or is starting. */
    get running(): boolean {
        return this.state.server !== "stopped";
    }

    /** Starts the sidecar, or says why it cannot and what to do. */
    async start(): Promise<void> {
        this.statusBar.show();
        const folder = vscode.workspace.workspaceFolders?.[0];
        const found = this.locateServer(folder);
        if ("problem" in found) {
            this.update({ server: "stopped", problem: found.problem, sidecar: undefined });
            void this.offerSettings(found.problem);
            return;
        }
        this.update({ server: "starting", problem: undefined, sidecar: { path: found.path, source: found.source } });
        const client = createClient(found.path, folder, this.serverLog);
        client.onNotification(ext.serverStatus, (status) => this.update({ status }));
        client.onNotification(ext.patchStatus, (report) => this.onReport(report));
        client.onDidChangeState(({ newState }) => {
            if (newState === lc.State.Running) this.update({ server: "running" });
            if (newState === lc.State.Stopped && this.client === client) {
                this.update({ server: "stopped", problem: `The sidecar (${found.path}) exited: see the jank-hotpatch output.` });
            }
        });
        this.client = client;
        try {
            await client.start();
            this.settingsWatch = notifySettingsChanges(client);
            this.noteVersion(found.path, client.initializeResult?.serverInfo?.version);
        } catch (e) {
            const problem = `Cannot start ${found.path} lsp: ${errorMessage(e)}`;
            this.update({ server: "stopped", problem });
            void vscode.window.showErrorMessage(`jank: ${problem}`);
        }
    }

    /** The sidecar to run: the setting's, the bundled one, or the one on PATH. */
    private locateServer(folder: vscode.WorkspaceFolder | undefined): ServerLocation {
        const setting = vscode.workspace.getConfiguration(SECTION).get<string | null>("server.path");
        return findServer(setting, process.env.PATH, folder?.uri.fsPath, this.extensionDir);
    }

    /** Runs `doctor` of the sidecar this extension runs, in the first workspace folder, and
     * shows what it says in the jank-hotpatch output. */
    async doctor(): Promise<void> {
        const folder = vscode.workspace.workspaceFolders?.[0];
        const found = this.locateServer(folder);
        if ("problem" in found) return this.offerSettings(found.problem);
        const workspace = folder?.uri.fsPath ?? ".";
        this.serverLog.show(true);
        this.serverLog.appendLine(`$ ${found.path} doctor --workspace ${workspace}`);
        const said = await new Promise<string>((resolve) => {
            // It exits 1 when a patch cannot go through: what it printed says why.
            execFile(found.path, ["doctor", "--workspace", workspace], { cwd: folder?.uri.fsPath, timeout: 120_000 }, (error, stdout, stderr) =>
                resolve(`${stdout}${stderr}${error && !stdout ? errorMessage(error) : ""}`),
            );
        });
        this.serverLog.appendLine(said);
    }

    /** Shows the sidecar's version in the tooltip, and warns once when it is not ours. */
    private noteVersion(path: string, version: string | undefined): void {
        if (this.state.sidecar) this.update({ sidecar: { ...this.state.sidecar, version } });
        const mismatch = versionMismatch(path, version, this.version);
        this.serverLog.appendLine(`jank-hotpatch ${version ?? "(no version)"} at ${path}; this extension is ${this.version}`);
        const key = `${path}@${version}`;
        if (!mismatch || this.warnedVersions.has(key)) return;
        this.warnedVersions.add(key);
        void vscode.window.showWarningMessage(`jank: ${mismatch}`);
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.settingsWatch?.dispose();
        this.settingsWatch = undefined;
        if (client) await client.dispose(2000).catch(() => undefined);
        this.update({ server: "stopped", problem: "Stopped.", status: undefined });
    }

    async restart(): Promise<void> {
        await this.stop();
        await this.start();
    }

    /** Hot-patches the form at `position`, or the whole file without one, with the status
     * bar busy meanwhile. The report itself arrives as `jank/patchStatus`. */
    async hotPatch(document: vscode.Uri, position?: vscode.Position): Promise<void> {
        await this.execute(position ? ext.HOT_PATCH_FORM : ext.HOT_PATCH_FILE, document, position);
    }

    /** Takes the definition at `position` back one version in every page (no build), and
     * says what the sidecar did. */
    async undoPatch(document: vscode.Uri, position: vscode.Position): Promise<void> {
        const report = await this.execute(ext.UNDO_PATCH, document, position);
        if (!report) return;
        if (report.ok) void vscode.window.showInformationMessage(`jank: ${report.summary}`);
        else void vscode.window.showErrorMessage(`jank: ${report.summary}`);
    }

    /** Runs one of the sidecar's commands on `document` (at `position`, when given), with the
     * status bar busy meanwhile; its report, or undefined when it could not run. */
    private async execute(command: string, document: vscode.Uri, position?: vscode.Position): Promise<ext.PatchReport | undefined> {
        const client = this.runningClient();
        if (!client) return undefined;
        const uri = client.code2ProtocolConverter.asUri(document);
        const args: ext.HotPatchFormArgs | ext.HotPatchFileArgs | ext.UndoPatchArgs = position
            ? { uri, position: { line: position.line, character: position.character } }
            : { uri };
        this.update({ patching: true });
        try {
            const report: unknown = await client.sendRequest(lc.ExecuteCommandRequest.type, { command, arguments: [args] });
            return report as ext.PatchReport;
        } catch (e) {
            void vscode.window.showErrorMessage(`jank: ${errorMessage(e)}`);
            return undefined;
        } finally {
            this.update({ patching: false });
        }
    }

    /** The app's page as the sidecar last reported it (asking it when it has not yet). */
    async appUrl(): Promise<string | undefined> {
        if (this.state.status?.appUrl) return this.state.status.appUrl;
        const client = this.runningClient();
        if (!client) return undefined;
        const status = await client.sendRequest(ext.status).catch(() => undefined);
        if (status) this.update({ status });
        return status?.appUrl;
    }

    private runningClient(): lc.LanguageClient | undefined {
        if (this.client && this.state.server !== "stopped") return this.client;
        const problem = this.state.problem ?? "jank-hotpatch is not running.";
        void this.offerSettings(problem);
        return undefined;
    }

    private async offerSettings(problem: string): Promise<void> {
        const choice = await vscode.window.showErrorMessage(problem, "Open Settings", "Restart");
        if (choice === "Open Settings") {
            await vscode.commands.executeCommand("workbench.action.openSettings", SERVER_PATH_SETTING);
        } else if (choice === "Restart") {
            await this.restart();
        }
    }

    private onReport(report: ext.PatchReport): void {
        if (report.superseded) return;
        this.patchLog.appendLine(logLine(report, new Date()));
        if (report.ok && report.forms.length === 0 && report.message) {
            vscode.window.setStatusBarMessage(`jank: ${report.message}`, 4000);
        }
        this.results.show(report);
        this.update({}, report);
    }

    private update(change: Partial<StatusState>, report?: ext.PatchReport): void {
        this.state = { ...this.state, ...change };
        if (report) this.state = withReport(this.state, report);
        this.render();
    }

    private render(): void {
        const view = statusView(this.state);
        this.statusBar.text = view.text;
        const tooltip = new vscode.MarkdownString(view.tooltip, true);
        tooltip.isTrusted = { enabledCommands: [...TOOLTIP_COMMANDS] };
        this.statusBar.tooltip = tooltip;
        this.statusBar.backgroundColor = view.background
            ? new vscode.ThemeColor(`statusBarItem.${view.background}Background`)
            : undefined;
    }

    dispose(): void {
        this.settingsWatch?.dispose();
        void this.client?.dispose(2000).catch(() => undefined);
        this.client = undefined;
        this.statusBar.dispose();
        this.results.dispose();
        this.serverLog.dispose();
        this.patchLog.dispose();
    }
}

function errorMessage(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}
