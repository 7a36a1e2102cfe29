import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { NOT_FOUND_MESSAGE, findServer, isJankPath, serverSettings } from "../config";

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

    it("takes the first one on PATH", () => {
        assert.deepEqual(findServer(null, ["/nonexistent", bin].join(path.delimiter), undefined), { path: server });
    });

    it("prefers the setting, relative to the workspace folder", () => {
        assert.deepEqual(findServer("bin/jank-hotpatch", "", dir), { path: server });
        assert.deepEqual(findServer(server, "", undefined), { path: server });
    });

    it("says what to do when it is nowhere", () => {
        assert.deepEqual(findServer("", "/nonexistent", dir), { problem: NOT_FOUND_MESSAGE });
        assert.match(NOT_FOUND_MESSAGE, /cargo install --path server/);
        assert.match(NOT_FOUND_MESSAGE, /jankHotpatch\.server\.path/);
    });

    it("does not fall back to PATH when the setting is wrong", () => {
        const found = findServer(notExecutable, bin, dir);
        assert.ok("problem" in found, "a wrong setting is a problem");
        assert.match(found.problem, /jankHotpatch\.server\.path is `.*plain`, which is not an executable file/);
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
