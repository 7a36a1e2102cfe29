import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";

import { BUNDLED_SERVER, NOT_FOUND_MESSAGE, findServer, isJankPath, serverSettings, versionMismatch } from "../config";

describe("settings sent to the sidecar", () => {
    const section = {
        patchOnSave: false,
        server: { path: "/opt/jank-hotpatch" },
        nrepl: { endpoint: "127.0.0.1:5555" },
        build: { toolchain: "emcc" },
        app: { port: 9000 },
    };

    it("are the section's keys, dotted, without client-only keys", () => {
        assert.deepEqual(serverSettings(section), {
            patchOnSave: false,
            "nrepl.endpoint": "127.0.0.1:5555",
            "build.toolchain": "emcc",
            "app.port": 9000,
        });
    });

    it("leave out VS Code's defaults, so jank-hotpatch.toml still counts", () => {
        const setByUser = new Set(["build.toolchain", "server.path"]);
        assert.deepEqual(serverSettings(section, (key) => setByUser.has(key)), { "build.toolchain": "emcc" });
    });

    it("turn an empty endpoint into auto (null) and pass other sidecar keys through", () => {
        assert.deepEqual(serverSettings({ nrepl: { endpoint: "  " }, app: { root: "app" }, build: { pchHeaders: ["<string>"] } }), {
            "nrepl.endpoint": null,
            "app.root": "app",
            "build.pchHeaders": ["<string>"],
        });
    });

    it("are empty when there is no section", () => {
        assert.deepEqual(serverSettings(undefined), {});
        assert.deepEqual(serverSettings(null), {});
    });
});

describe("finding jank-hotpatch", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jank-hotpatch-config-test-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const server = path.join(bin, "jank-hotpatch");
    fs.writeFileSync(server, "#!/bin/sh\n");
    fs.chmodSync(server, 0o755);
    const notExecutable = path.join(dir, "plain");
    fs.writeFileSync(notExecutable, "");

    // An extension directory as the platform .vsix installs it: server/jank-hotpatch.
    const extension = path.join(dir, "extension");
    fs.mkdirSync(path.join(extension, path.dirname(BUNDLED_SERVER)), { recursive: true });
    const bundled = path.join(extension, BUNDLED_SERVER);
    fs.writeFileSync(bundled, "#!/bin/sh\n");
    fs.chmodSync(bundled, 0o755);
    const noBundle = path.join(dir, "extension-without-server");
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("takes the first one on PATH when the extension carries none", () => {
        assert.deepEqual(findServer(null, ["/nonexistent", bin].join(path.delimiter), undefined, noBundle), { path: server, source: "PATH" });
    });

    it("prefers the bundled sidecar to PATH", () => {
        assert.deepEqual(findServer("", bin, undefined, extension), { path: bundled, source: "bundled" });
    });

    it("prefers the setting, relative to the workspace folder", () => {
        assert.deepEqual(findServer("bin/jank-hotpatch", "", dir, extension), { path: server, source: "setting" });
        assert.deepEqual(findServer(server, "", undefined, extension), { path: server, source: "setting" });
    });

    it("says what to do when it is nowhere", () => {
        assert.deepEqual(findServer("", "/nonexistent", dir, noBundle), { problem: NOT_FOUND_MESSAGE });
        assert.match(NOT_FOUND_MESSAGE, /scripts\/install\.sh/);
        assert.match(NOT_FOUND_MESSAGE, /linux-x64 \.vsix/);
        assert.match(NOT_FOUND_MESSAGE, /jankHotpatch\.server\.path/);
    });

    it("does not fall back to the bundled one or PATH when the setting is wrong", () => {
        const found = findServer(notExecutable, bin, dir, extension);
        assert.ok("problem" in found, "a wrong setting is a problem");
        assert.match(found.problem, /jankHotpatch\.server\.path is `.*plain`, which is not an executable file/);
    });
});

describe("the sidecar's version", () => {
    it("is fine when it is the extension's", () => {
        assert.equal(versionMismatch("/x/jank-hotpatch", "0.1.0", "0.1.0"), undefined);
    });

    it("is worth a warning naming both when it differs or is missing", () => {
        assert.equal(
            versionMismatch("/x/jank-hotpatch", "0.2.0", "0.1.0"),
            "The sidecar /x/jank-hotpatch is version 0.2.0, this extension 0.1.0: some features may not work. Install the same version of both (or set jankHotpatch.server.path).",
        );
        assert.match(versionMismatch("/x/jank-hotpatch", undefined, "0.1.0") ?? "", /is of no stated version, this extension 0\.1\.0/);
    });
});

describe("the files the sidecar patches", () => {
    it("are .jank files, whatever else the path says", () => {
        assert.equal(isJankPath("/w/src/demo/core.jank"), true);
        assert.equal(isJankPath("/w/src/demo/core.clj"), false);
        assert.equal(isJankPath("/w/src/demo.jank/core.cljs"), false);
        assert.equal(isJankPath("/w/jank"), false);
    });
});
