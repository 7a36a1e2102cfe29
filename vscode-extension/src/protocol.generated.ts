// The sidecar's editor protocol: generated from server/src/front/lsp/ext.rs and
// server/src/config by `UPDATE_PROTOCOL=1 cargo test -p jank-hotpatch --test tidy`. Do not edit.

export const HOT_PATCH_FORM = "jank.hotPatchForm";
export const HOT_PATCH_FILE = "jank.hotPatchFile";
export const UNDO_PATCH = "jank.undoPatch";
export const PATCH_STATUS = "jank/patchStatus";
export const SERVER_STATUS = "jank/serverStatus";
export const STATUS_REQUEST = "jank/status";

/** The stages of a patch, in the order they run. */
export const STAGES = ["read","compile","build","check","deliver","load"] as const;
export type Stage = (typeof STAGES)[number];

/** How long a patched form is highlighted, in milliseconds. */
export const FLASH_MS = 400;
/** The longest value shown inline, in characters. */
export const VALUE_MAX_CHARS = 120;
/** The source of the diagnostics (and the start of the log lines) of errors thrown while
 * patched code runs in a page. */
export const RUNTIME_SOURCE = "jank-hotpatch (runtime)";

/** Every sidecar setting with its default (`null`: none). */
export const SETTINGS: Readonly<Record<string, unknown>> = {
  "app.host": "127.0.0.1",
  "app.mainModule": null,
  "app.maxModuleBytes": 16777216,
  "app.port": 7888,
  "app.root": null,
  "build.cacheMaxMb": 256,
  "build.emscriptenRoot": null,
  "build.includeDirs": [],
  "build.pchHeaders": [
    "<stdint.h>"
  ],
  "build.serviceBinary": null,
  "build.timeoutMs": 30000,
  "build.toolchain": "auto",
  "cacheDir": null,
  "nrepl.endpoint": null,
  "nrepl.timeoutMs": 30000,
  "nreplServer.enabled": false,
  "nreplServer.port": 0,
  "patchOnSave": true
};
