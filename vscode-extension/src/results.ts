// What a patch shows in the editor itself: the value of an evaluated form after its end
// (like Calva's inline results), and a short flash over the forms that were patched.
// Values are cleared when their document changes; failures are diagnostics (server side).

import * as vscode from "vscode";

import type { PatchReport } from "./lsp_ext";
import { FLASH_MS } from "./protocol.generated";
import { inlineValue } from "./status";


export class InlineResults implements vscode.Disposable {
    private readonly valueType = vscode.window.createTextEditorDecorationType({
        after: {
            color: new vscode.ThemeColor("editorCodeLens.foreground"),
            fontStyle: "italic",
            margin: "0 0 0 1.5em",
        },
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    private readonly flashType = vscode.window.createTextEditorDecorationType({
        backgroundColor: new vscode.ThemeColor("editor.findMatchHighlightBackground"),
    });
    /** Inline values shown, by document URI, so editors opened later show them too. */
    private readonly values = new Map<string, vscode.DecorationOptions[]>();
    private readonly subscriptions: vscode.Disposable[];

    constructor() {
        this.subscriptions = [
            vscode.workspace.onDidChangeTextDocument((e) => {
                if (e.contentChanges.length > 0) this.clear(e.document.uri.toString());
            }),
            vscode.window.onDidChangeVisibleTextEditors((editors) => {
                for (const editor of editors) {
                    editor.setDecorations(this.valueType, this.values.get(editor.document.uri.toString()) ?? []);
                }
            }),
        ];
    }

    /** Shows a report's value (or removes the previous one) and flashes what it patched.
     * A report that patched nothing (a save with nothing changed) leaves the value shown. */
    show(report: PatchReport): void {
        if (report.ok && report.forms.length === 0) return;
        const uri = vscode.Uri.parse(report.uri).toString();
        const last = report.forms[report.forms.length - 1];
        if (report.ok && last && report.value !== undefined) {
            const end = toPosition(last.range.end);
            this.values.set(uri, [
                { range: new vscode.Range(end, end), renderOptions: { after: { contentText: inlineValue(report.value) } } },
            ]);
        } else {
            this.values.delete(uri);
        }
        const flashes = report.ok ? report.forms.map((f) => new vscode.Range(toPosition(f.range.start), toPosition(f.range.end))) : [];
        for (const editor of editorsOf(uri)) {
            editor.setDecorations(this.valueType, this.values.get(uri) ?? []);
            if (flashes.length === 0) continue;
            editor.setDecorations(this.flashType, flashes);
            setTimeout(() => editor.setDecorations(this.flashType, []), FLASH_MS);
        }
    }

    private clear(uri: string): void {
        if (!this.values.delete(uri)) return;
        for (const editor of editorsOf(uri)) editor.setDecorations(this.valueType, []);
    }

    dispose(): void {
        for (const s of this.subscriptions) s.dispose();
        this.valueType.dispose();
        this.flashType.dispose();
    }
}

function editorsOf(uri: string): readonly vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === uri);
}

function toPosition(p: { line: number; character: number }): vscode.Position {
    return new vscode.Position(p.line, p.character);
}
