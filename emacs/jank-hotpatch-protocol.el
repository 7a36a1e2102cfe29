;;; jank-hotpatch-protocol.el --- The sidecar's editor protocol  -*- lexical-binding: t; -*-

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Generated from server/src/front/lsp/ext.rs, server/src/config and
;; server/src/app.rs by
;; `UPDATE_PROTOCOL=1 cargo test -p jank-hotpatch --test tidy'.  Do not edit.

;;; Code:

(defconst jank-hotpatch-protocol-hot-patch-form "jank.hotPatchForm"
  "The command that patches the top-level form at a position.")

(defconst jank-hotpatch-protocol-hot-patch-file "jank.hotPatchFile"
  "The command that patches the forms of a file changed since its last patch.")

(defconst jank-hotpatch-protocol-undo-patch "jank.undoPatch"
  "The command that takes a definition, or a file's last patch, back one version.")

(defconst jank-hotpatch-protocol-patch-status "jank/patchStatus"
  "The notification that carries every patch report.")

(defconst jank-hotpatch-protocol-server-status "jank/serverStatus"
  "The notification that carries the sidecar's health.")

(defconst jank-hotpatch-protocol-stages '("read" "compile" "build" "check" "deliver" "load")
  "The stages of a patch, in the order they run.")

(defconst jank-hotpatch-protocol-flash-seconds 0.4
  "How long a patched form is highlighted, in seconds.")

(defconst jank-hotpatch-protocol-value-max-chars 120
  "The longest value shown inline, in characters.")

(defconst jank-hotpatch-protocol-version "0.1.0"
  "The version of jank-hotpatch this package belongs to.
Its sidecar gives its own in the serverInfo of its answer to initialize.")

(defconst jank-hotpatch-protocol-runtime-source "jank-hotpatch (runtime)"
  "The source of the diagnostics of errors thrown by patched code in a page.")

(defconst jank-hotpatch-protocol-cache-dir ".jank-hotpatch"
  "The sidecar's cache directory when cacheDir is not set, in the workspace.")

(defconst jank-hotpatch-protocol-app-url-file "app-url"
  "The file in the cache directory that holds the app's URL.")

(provide 'jank-hotpatch-protocol)
;;; jank-hotpatch-protocol.el ends here
