// The `jankHotpatch.*` settings: which are the sidecar's and which the client's, where the
// sidecar binary is and whether its version is this extension's. Pure (no `vscode` import) so
// it is unit-tested with node's test runner.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The settings section, in package.json and in `workspace/configuration`. */
export const SECTION = "jankHotpatch";

/** Keys the client uses itself; the sidecar would warn about them as unknown settings. */
export const CLIENT_ONLY_KEYS = ["server"] as const;

export const SERVER_PATH_SETTING = `${SECTION}.server.path`;

/** The files the sidecar patches: `.jank` files in any language mode, so that mapping them
 * to `clojure` (for Calva and clojure-lsp) keeps hot-patching them. */
export const JANK_FILES = "**/*.jank";

/** A `.jank` file (a URI's or a file system path), whatever its language id. */
export function isJankPath(path: string): boolean {
    return path.endsWith(".jank");
}

export const NOT_FOUND_MESSAGE =
    "jank-hotpatch not found: this extension carries none (install the linux-x64 .vsix, which does) and there is none on PATH: run `scripts/install.sh` in the jank-hotpatch repo, or set jankHotpatch.server.path";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Section = { [key: string]: Json | undefined };

/** The sidecar's settings from the `jankHotpatch` section as VS Code nests it
 * (`{patchOnSave, nrepl: {endpoint}, build: {toolchain}, app: {port}, server: {path}}`),
 * as dotted keys (`{"app.port": 9000}`), for initializationOptions and for answers to
 * `workspace/configuration`.
 *
 * Only the keys `isSet` says the user set go: VS Code fills in every default, and those
 * must not hide the project's jank-hotpatch.toml (the editor's layer comes after it).
 * Client-only keys are dropped, other keys pass through (the sidecar checks them and says
 * what is wrong), and an empty endpoint means "auto" (read `.nrepl-port`). */
export function serverSettings(section: Section | null | undefined, isSet: (key: string) => boolean = () => true): Section {
    const out: Section = {};
    for (const [key, value] of flatten(section ?? {})) {
        const top = key.split(".")[0];
        if ((CLIENT_ONLY_KEYS as readonly string[]).includes(top) || !isSet(key)) continue;
        out[key] = key === "nrepl.endpoint" && typeof value === "string" && value.trim() === "" ? null : value;
    }
    return out;
}

/** `{a: {b: 1}}` as `[["a.b", 1]]`; arrays are values. */
function flatten(section: Section, prefix = ""): [string, Json][] {
    return Object.entries(section).flatMap(([key, value]): [string, Json][] => {
        if (value === undefined) return [];
        const full = prefix ? `${prefix}.${key}` : key;
        return isObject(value) ? flatten(value, full) : [[full, value]];
    });
}

/** Where the sidecar comes from, as the status bar tooltip says it. */
export type ServerSource = "setting" | "bundled" | "PATH";

export type ServerLocation = { path: string; source: ServerSource } | { problem: string };

/** The sidecar a platform `.vsix` carries, relative to the extension's directory. */
export const BUNDLED_SERVER = path.join("server", "jank-hotpatch");

/** Where `jank-hotpatch` is: the `jankHotpatch.server.path` setting (`~` and paths relative
 * to the workspace folder allowed), else the one bundled in `extensionDir` (the platform
 * `.vsix`), else the first executable `jank-hotpatch` on PATH. */
export function findServer(
    setting: string | null | undefined,
    pathEnv: string | undefined,
    workspaceFolder: string | undefined,
    extensionDir: string | undefined,
    isExecutable: (file: string) => boolean = executableFile,
): ServerLocation {
    const configured = setting?.trim();
    if (configured) {
        const expanded = configured.startsWith("~/") ? path.join(os.homedir(), configured.slice(2)) : configured;
        const full = path.isAbsolute(expanded) || !workspaceFolder ? expanded : path.join(workspaceFolder, expanded);
        if (isExecutable(full)) return { path: full, source: "setting" };
        return {
            problem: `${SERVER_PATH_SETTING} is \`${configured}\`, which is not an executable file: fix it, or clear it to use the bundled jank-hotpatch or the one on PATH`,
        };
    }
    if (extensionDir) {
        const bundled = path.join(extensionDir, BUNDLED_SERVER);
        if (isExecutable(bundled)) return { path: bundled, source: "bundled" };
    }
    for (const dir of (pathEnv ?? "").split(path.delimiter)) {
        if (!dir) continue;
        const candidate = path.join(dir, "jank-hotpatch");
        if (isExecutable(candidate)) return { path: candidate, source: "PATH" };
    }
    return { problem: NOT_FOUND_MESSAGE };
}

/** What to warn about when the sidecar (its LSP `serverInfo.version`) is not the version of
 * this extension, which was made for one protocol; undefined when they match. */
export function versionMismatch(serverPath: string, serverVersion: string | undefined, extensionVersion: string): string | undefined {
    if (serverVersion === extensionVersion) return undefined;
    const theirs = serverVersion ? `version ${serverVersion}` : "of no stated version";
    return `The sidecar ${serverPath} is ${theirs}, this extension ${extensionVersion}: some features may not work. Install the same version of both (or set ${SERVER_PATH_SETTING}).`;
}

function executableFile(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
