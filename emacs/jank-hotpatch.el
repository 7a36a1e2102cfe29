;;; jank-hotpatch.el --- Hot-patch running jank apps -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The jank-hotpatch contributors

;; Author: The jank-hotpatch contributors
;; URL: https://github.com/jank-hotpatch/jank-hotpatch
;; Keywords: languages, tools, lisp
;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; SPDX-License-Identifier: MIT OR Apache-2.0

;; This file is not part of GNU Emacs.

;; Licensed under either of the Apache License, Version 2.0 or the MIT
;; license, at your option: LICENSE-APACHE and LICENSE-MIT, in this
;; package and at the root of the repository.

;;; Commentary:

;; jank-hotpatch is a sidecar (the `jank-hotpatch' program) that speaks
;; LSP to editors.  When you save a jank file, or ask for one form, it
;; gets the C++ for the changed forms from jank's own compiler, builds
;; a WebAssembly side module and loads it into every browser page that
;; runs the app, keeping the page's state.  This package is its Emacs
;; client.
;;
;; Installation: M-x package-install-file on the release's
;; jank-hotpatch-VERSION.tar (or package-vc-install, or this directory on
;; `load-path'), then
;;
;;   (require 'jank-hotpatch)
;;   (add-hook 'jank-mode-hook #'jank-hotpatch-mode)
;;
;; `jank-hotpatch-mode' starts the sidecar and talks to it over a
;; JSON-RPC connection of its own (see `jank-hotpatch-client'), so the
;; buffer's eglot or lsp-mode server stays the one you chose:
;; clojure-lsp, say, for completion, navigation and clj-kondo, and
;; CIDER beside it.  The sidecar's diagnostics go to flymake through a
;; backend of their own, beside the other servers'.
;;
;; The package opens .jank files in `jank-mode' where a package defines
;; it (clojure-mode 5.20 and later), else in `jank-hotpatch-jank-mode', a
;; small mode derived from `clojure-mode' when that is installed, else
;; from `lisp-data-mode', which runs `jank-mode-hook' too.
;; `jank-hotpatch-mode' works in any buffer visiting a .jank file,
;; whatever its major mode.
;;
;; To run the sidecar as the buffer's eglot server instead (eglot then
;; runs no other server for the buffer), set `jank-hotpatch-client' to
;; `eglot' and run M-x eglot; to run it as a lsp-mode add-on client
;; beside the buffer's other servers, set it to `lsp-mode' and run
;; M-x lsp.
;;
;; The sidecar is found on PATH (the release archive, or
;; scripts/install.sh), else in the target/ directory of the repository
;; this file belongs to; see `jank-hotpatch-server-command'.  Its
;; version is logged in `jank-hotpatch-log-buffer' and shown in the
;; lighter's tooltip, with a warning when it is not this package's.
;;
;; With `jank-hotpatch-mode' on:
;;
;;   saving          the sidecar patches the forms that changed (see
;;                   `jank-hotpatch-on-save')
;;   C-c C-c, C-M-x  `jank-hotpatch-form': patch the top-level form at
;;                   point; an expression's value is shown after it
;;   C-c C-k         `jank-hotpatch-file': patch every changed form
;;   C-c C-u         `jank-hotpatch-undo': take the definition at point
;;                   back to its previous version in every page (no
;;                   build: the pages still have it)
;;   M-x jank-hotpatch-open-app   open the app's page in a browser
;;   M-x jank-hotpatch-show-log   one line per patch, with the time
;;                   of every stage, the version of each var, then what
;;                   the code printed in the page and any warnings
;;                   (mouse-1 on the lighter too)
;;
;; The lighter shows " jank[84ms]" after a patch, " jank[!]" after a
;; failure, " jank[…]" while a patch runs and " jank[no change]" when
;; there was nothing to patch; its tooltip has the stage breakdown.
;; Failures are diagnostics (flymake, through eglot) on the form.
;;
;; Customizations (M-x customize-group RET jank-hotpatch):
;; `jank-hotpatch-on-save', `jank-hotpatch-server-command',
;; `jank-hotpatch-nrepl-endpoint', `jank-hotpatch-toolchain',
;; `jank-hotpatch-app-port', `jank-hotpatch-cache-dir',
;; `jank-hotpatch-result-lifetime',
;; `jank-hotpatch-result-max-width', `jank-hotpatch-flash-duration',
;; `jank-hotpatch-client'.  The sidecar reads them when it starts
;; (initializationOptions): after changing one, run
;; M-x jank-hotpatch-reconnect.  Settings left at nil come from the
;; workspace's jank-hotpatch.toml or the sidecar's defaults.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jank-hotpatch-connection)
(require 'jank-hotpatch-jank-mode)
(require 'jank-hotpatch-protocol)
(require 'jsonrpc)
(require 'seq)
(require 'subr-x)
(require 'url-parse)
(require 'url-util)

;;; User options

(defgroup jank-hotpatch nil
  "Hot-patch jank code into running WebAssembly pages."
  :prefix "jank-hotpatch-"
  :group 'tools
  :link '(url-link "https://github.com/jank-hotpatch/jank-hotpatch"))

(defcustom jank-hotpatch-on-save t
  "Whether the sidecar patches the changed forms of a file when it is saved.
The sidecar itself does it, on the LSP didSave notification, so
that saving never patches twice."
  :type '(choice (const :tag "Patch changed forms on save" t)
                 (const :tag "Only patch on request" nil))
  :safe #'booleanp
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-server-command nil
  "Program and arguments that start the sidecar speaking LSP on stdio.
nil finds `jank-hotpatch' on PATH, else in the target/release or
target/debug directory of the repository this package belongs to,
and runs it with the argument \"lsp\"."
  :type '(choice (const :tag "Find jank-hotpatch (PATH, then target/)" nil)
                 (repeat :tag "Program and arguments" string))
  :risky t
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-nrepl-endpoint nil
  "Where jank's nREPL server listens.
nil reads the port from the .nrepl-port file that jank writes."
  :type '(choice (const :tag "Read .nrepl-port" nil)
                 (string :tag "host:port")
                 (integer :tag "Port on localhost"))
  :safe (lambda (value) (or (null value) (stringp value) (natnump value)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-toolchain nil
  "Which tools build the C++ of a form into a WebAssembly side module."
  :type '(choice (const :tag "From jank-hotpatch.toml, else auto" nil)
                 (const :tag "resident when built, else clang, else emcc" auto)
                 (const :tag "clang and lld kept loaded (fastest)" resident)
                 (const :tag "clang++ and wasm-ld directly (fast)" clang)
                 (const :tag "emcc" emcc))
  :safe (lambda (value) (memq value '(nil auto resident clang emcc)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-app-port nil
  "Port of the sidecar's HTTP and WebSocket server for the app's pages.
nil uses jank-hotpatch.toml's, else the sidecar's default (7888)."
  :type '(choice (const :tag "From jank-hotpatch.toml, else 7888" nil)
                 (natnum :tag "Port"))
  :safe (lambda (value) (or (null value) (natnump value)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-cache-dir nil
  "Where the sidecar writes its files (cacheDir), relative to the workspace.
nil uses jank-hotpatch.toml's, else .jank-hotpatch.  The sidecar
writes the app's URL there, which `jank-hotpatch-open-app' reads
before the sidecar has said it."
  :type '(choice (const :tag "From jank-hotpatch.toml, else .jank-hotpatch" nil)
                 (directory :tag "Directory"))
  :safe (lambda (value) (or (null value) (stringp value)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-result-lifetime 10
  "Seconds an expression's value stays shown after the form.
The value also goes away as soon as the buffer changes."
  :type '(choice (const :tag "Until the buffer changes" nil)
                 (number :tag "Seconds"))
  :safe (lambda (value) (or (null value) (numberp value)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-result-max-width jank-hotpatch-protocol-value-max-chars
  "Longest value shown after a form, in characters; longer ones are cut."
  :type 'natnum
  :safe #'natnump
  :package-version '(jank-hotpatch . "0.1.0"))

(defcustom jank-hotpatch-flash-duration jank-hotpatch-protocol-flash-seconds
  "Seconds a patched form stays highlighted, or nil for no highlight."
  :type '(choice (const :tag "No highlight" nil)
                 (number :tag "Seconds"))
  :safe (lambda (value) (or (null value) (numberp value)))
  :package-version '(jank-hotpatch . "0.1.0"))

(defface jank-hotpatch-result
  '((t :inherit font-lock-comment-face :box (:line-width -1)))
  "Face of the value shown after an evaluated form."
  :package-version '(jank-hotpatch . "0.1.0"))

(defface jank-hotpatch-flash
  '((t :inherit highlight))
  "Face that briefly marks a form that was just patched."
  :package-version '(jank-hotpatch . "0.1.0"))

;;; Starting the sidecar

(defconst jank-hotpatch--repository
  (when-let ((file (or load-file-name buffer-file-name)))
    (file-name-directory (directory-file-name (file-name-directory file))))
  "The repository this file belongs to, where cargo builds the sidecar.")

(defun jank-hotpatch--built-program ()
  "The newest sidecar binary under the repository's target/, or nil."
  (when jank-hotpatch--repository
    (let ((built (seq-filter
                  #'file-executable-p
                  (mapcar (lambda (profile)
                            (expand-file-name
                             (concat "target/" profile "/jank-hotpatch")
                             jank-hotpatch--repository))
                          '("release" "debug")))))
      (car (sort built #'file-newer-than-file-p)))))

(defun jank-hotpatch-server-program ()
  "Return the program and arguments to start the sidecar with."
  (or jank-hotpatch-server-command
      (list (or (executable-find "jank-hotpatch")
                (jank-hotpatch--built-program)
                "jank-hotpatch")
            "lsp")))

(defun jank-hotpatch--compact (plist)
  "PLIST without its nil values; nested plists compacted, empty ones dropped."
  (cl-loop for (key value) on plist by #'cddr
           for kept = (if (and (consp value) (keywordp (car value)))
                          (jank-hotpatch--compact value)
                        value)
           when kept append (list key kept)))

(defun jank-hotpatch-initialization-options (&optional _server)
  "The sidecar's initializationOptions, from the user options.
Options left at nil are left out, so that jank-hotpatch.toml or the
sidecar's defaults apply."
  (jank-hotpatch--compact
   `(:patchOnSave ,(if jank-hotpatch-on-save t :json-false)
     :nrepl (:endpoint ,jank-hotpatch-nrepl-endpoint)
     :build (:toolchain ,(and jank-hotpatch-toolchain
                              (symbol-name jank-hotpatch-toolchain)))
     :app (:port ,jank-hotpatch-app-port)
     :cacheDir ,jank-hotpatch-cache-dir)))

(defun jank-hotpatch-eglot-contact (&optional _interactive _project)
  "Return the sidecar's command and initializationOptions for eglot."
  `(,@(jank-hotpatch-server-program)
    :initializationOptions ,#'jank-hotpatch-initialization-options))

(defconst jank-hotpatch--jank-modes '(jank-mode jank-hotpatch-jank-mode)
  "The major modes of jank files: clojure-mode's and this package's own.")

(defconst jank-hotpatch--eglot-entry
  (cons jank-hotpatch--jank-modes #'jank-hotpatch-eglot-contact)
  "The sidecar's entry in `eglot-server-programs'.")

;;;; lsp-mode

(defvar jank-hotpatch-client)
(declare-function lsp-request-async "ext:lsp-mode")
(declare-function lsp--buffer-uri "ext:lsp-mode")
(declare-function lsp-point-to-position "ext:lsp-mode")
(declare-function lsp--line-character-to-point "ext:lsp-mode")
(declare-function lsp-workspaces "ext:lsp-mode")
(declare-function lsp-register-client "ext:lsp-mode")
(declare-function make-lsp-client "ext:lsp-mode")
(declare-function lsp-stdio-connection "ext:lsp-mode")
(declare-function lsp--workspace-client "ext:lsp-mode")
(declare-function lsp--client-server-id "ext:lsp-mode")
(defvar lsp-language-id-configuration)
(defvar lsp--buffer-workspaces)
(defvar lsp-clients)

(defun jank-hotpatch--lsp-mode-handler (handler)
  "Return a lsp-mode notification handler for HANDLER.
HANDLER gets the params as a plist and the workspace."
  (lambda (workspace params)
    (funcall handler (jank-hotpatch--plist params) workspace)))

(defun jank-hotpatch--lsp-mode-activation (file-name _mode)
  "Return non-nil if lsp-mode should start the sidecar for FILE-NAME.
That is when `jank-hotpatch-client' is `lsp-mode' and FILE-NAME is a
.jank file, whatever its major mode."
  (and (eq jank-hotpatch-client 'lsp-mode)
       file-name
       (string-suffix-p ".jank" file-name)))

(defun jank-hotpatch--register-with-lsp-mode ()
  "Register the sidecar as a lsp-mode add-on client, once.
Done when `jank-hotpatch-client' becomes `lsp-mode' (or a buffer turns
on `jank-hotpatch-mode' with it), so that lsp-mode is loaded only for
those who use it."
  (when (and (require 'lsp-mode nil t)
             (not (gethash 'jank-hotpatch lsp-clients)))
    (dolist (mode jank-hotpatch--jank-modes)
      (add-to-list 'lsp-language-id-configuration (cons mode "jank")))
    (let ((handlers (make-hash-table :test #'equal)))
      (puthash jank-hotpatch-protocol-patch-status
               (jank-hotpatch--lsp-mode-handler
                #'jank-hotpatch--handle-patch-status)
               handlers)
      (puthash jank-hotpatch-protocol-server-status
               (jank-hotpatch--lsp-mode-handler
                #'jank-hotpatch--handle-server-status)
               handlers)
      (lsp-register-client
       (make-lsp-client
        :new-connection (lsp-stdio-connection #'jank-hotpatch-server-program)
        :activation-fn #'jank-hotpatch--lsp-mode-activation
        :initialization-options #'jank-hotpatch-initialization-options
        :notification-handlers handlers
        ;; Beside the buffer's other servers (clojure-lsp), not instead.
        :add-on? t
        :server-id 'jank-hotpatch)))))

(defun jank-hotpatch--set-client (symbol value)
  "Set SYMBOL (`jank-hotpatch-client') to VALUE.
The sidecar is in `eglot-server-programs' only while VALUE is `eglot';
it is registered with lsp-mode when VALUE is `lsp-mode'."
  (set-default symbol value)
  (setq eglot-server-programs
        (if (eq value 'eglot)
            (cons jank-hotpatch--eglot-entry
                  (remove jank-hotpatch--eglot-entry eglot-server-programs))
          (remove jank-hotpatch--eglot-entry eglot-server-programs)))
  (when (eq value 'lsp-mode)
    (jank-hotpatch--register-with-lsp-mode)))

(defcustom jank-hotpatch-client 'own
  "How `jank-hotpatch-mode' talks to the sidecar.
`own': over a connection of its own, whatever server the buffer's
eglot or lsp-mode runs (clojure-lsp, say), or none.
`eglot': the sidecar is eglot's server for jank files (start it
with \[eglot]); eglot then runs no other server for the buffer.
`lsp-mode': the sidecar is a lsp-mode add-on client, started by
`lsp' beside the buffer's other servers.
Buffers already in `jank-hotpatch-mode' keep the way they had."
  :type '(choice (const :tag "A connection of its own" own)
                 (const :tag "The buffer's eglot server" eglot)
                 (const :tag "A lsp-mode add-on client" lsp-mode))
  :set #'jank-hotpatch--set-client
  :package-version '(jank-hotpatch . "0.1.0"))

;;; Talking to the sidecar

(defconst jank-hotpatch--request-timeout 120
  "Seconds to wait for a patch; the first build of a session is the slowest.")

(defvar-local jank-hotpatch--report nil
  "The last patch report (a plist) for this buffer's file.")

(defvar-local jank-hotpatch--requests 0
  "How many requests of this buffer the sidecar is still working on.")

(defvar-local jank-hotpatch--buffer-client nil
  "How this buffer talks to the sidecar.
That is `jank-hotpatch-client' as it was when the mode was turned on.")

(defvar jank-hotpatch-mode)

(defun jank-hotpatch--lsp-workspace ()
  "This buffer's lsp-mode workspace of the sidecar, or nil."
  (when (bound-and-true-p lsp-mode)
    (seq-find (lambda (workspace)
                (eq (lsp--client-server-id (lsp--workspace-client workspace))
                    'jank-hotpatch))
              (lsp-workspaces))))

(defun jank-hotpatch--client ()
  "How this buffer talks to the sidecar: `own', `eglot' or `lsp-mode'.
Signal a `user-error' saying what to do when it cannot."
  (pcase (or jank-hotpatch--buffer-client jank-hotpatch-client)
    ('own (if-let ((problem (jank-hotpatch-connection-problem)))
              (user-error "%s" problem)
            'own))
    ('eglot (if (eglot-managed-p)
                'eglot
              (user-error "This buffer has no eglot server; run M-x eglot")))
    ('lsp-mode (if (jank-hotpatch--lsp-workspace)
                   'lsp-mode
                 (user-error "No jank-hotpatch in lsp-mode here; run M-x lsp")))))

;; Under eglot, URIs and positions are converted as our own connection does it (the file's
;; URI, UTF-16 columns, as LSP defines them), so that no internal eglot function is needed.

(defun jank-hotpatch--buffer-uri ()
  "Return the URI of this buffer's file, as the LSP client has it."
  (pcase (jank-hotpatch--client)
    ((or 'own 'eglot) (jank-hotpatch-connection-uri))
    ('lsp-mode (lsp--buffer-uri))))

(defun jank-hotpatch--lsp-position (pos)
  "POS as an LSP position, in the client's own conversion (UTF-16)."
  (pcase (jank-hotpatch--client)
    ((or 'own 'eglot) (jank-hotpatch-connection-position pos))
    ('lsp-mode (lsp-point-to-position pos))))

(defun jank-hotpatch--point (position)
  "The buffer position of the LSP POSITION plist."
  (pcase (jank-hotpatch--client)
    ((or 'own 'eglot) (jank-hotpatch-connection-point position))
    ('lsp-mode (lsp--line-character-to-point (plist-get position :line)
                                             (plist-get position :character)))))

(defun jank-hotpatch--plist (object)
  "OBJECT with hash tables (lsp-mode's JSON objects) turned into plists."
  (cond ((hash-table-p object)
         (let (plist)
           (maphash (lambda (key value)
                      (setq plist (nconc plist
                                         (list (intern (concat ":" key))
                                               (jank-hotpatch--plist value)))))
                    object)
           plist))
        ((vectorp object) (vconcat (mapcar #'jank-hotpatch--plist object)))
        (t object)))

(defun jank-hotpatch--flushed-connection (client)
  "The JSON-RPC connection to the sidecar under CLIENT, `own' or `eglot'.
The sidecar must see the text as it is now, not as of the last idle
moment: the pending changes are sent first."
  (pcase client
    ('own (jank-hotpatch-connection-flushed))
    ('eglot
     ;; eglot 1.9 has no public way to flush its pending changes; this is
     ;; the function its own commands call.
     (eglot--signal-textDocument/didChange)
     (or (eglot-current-server) (user-error "This buffer has no eglot server")))))

(defun jank-hotpatch--request (command argument on-report)
  "Ask the sidecar to run COMMAND with ARGUMENT, then call ON-REPORT.
ON-REPORT runs in this buffer with the sidecar's patch report.  The
lighter shows the request as running until the answer comes; a
request that fails shows as a failed patch."
  (let ((buffer (current-buffer))
        (client (jank-hotpatch--client)))
    (cl-labels ((answered (handler value)
                  (when (buffer-live-p buffer)
                    (with-current-buffer buffer
                      (setq jank-hotpatch--requests
                            (max 0 (1- jank-hotpatch--requests)))
                      (force-mode-line-update)
                      (funcall handler value))))
                (done (report) (answered on-report report))
                (failed (message)
                  (answered #'jank-hotpatch--request-failed message)))
      (cl-incf jank-hotpatch--requests)
      (force-mode-line-update)
      (pcase client
        ((or 'own 'eglot)
         (jsonrpc-async-request
          (jank-hotpatch--flushed-connection client)
          :workspace/executeCommand
          (list :command command :arguments (vector argument))
          :success-fn #'done
          :error-fn (lambda (error) (failed (plist-get error :message)))
          :timeout-fn (lambda () (failed "no answer from the sidecar"))
          :timeout jank-hotpatch--request-timeout))
        ('lsp-mode
         ;; To the sidecar only: other servers have commands too.
         (let ((lsp--buffer-workspaces (list (jank-hotpatch--lsp-workspace))))
           (lsp-request-async
            "workspace/executeCommand"
            (list :command command :arguments (vector argument))
            (lambda (report) (done (jank-hotpatch--plist report)))
            :error-handler
            (lambda (error)
              (failed (plist-get (jank-hotpatch--plist error) :message))))))))))

(defun jank-hotpatch--request-failed (message)
  "Show that a request failed with MESSAGE: log, lighter and echo area."
  (let ((report (list :ok :json-false
                      :error (list :stage "request" :message message))))
    (jank-hotpatch--log (jank-hotpatch--log-line report))
    (setq jank-hotpatch--report report)
    (message "jank: %s" (jank-hotpatch--summary report))))

;;; Reports

(defun jank-hotpatch--true-p (value)
  "Whether the JSON VALUE is true (JSON false may be :json-false)."
  (eq value t))

(defun jank-hotpatch--ms (ms)
  "MS milliseconds as a short string."
  (cond ((not (numberp ms)) "?")
        ((< ms 10) (format "%.1f" ms))
        (t (format "%d" (round ms)))))

(defun jank-hotpatch--summary (report)
  "One line saying what the patch of REPORT did.
The sidecar's summary, then the value of an expression."
  (concat (plist-get report :summary)
          (when-let ((value (plist-get report :value)))
            (format " => %s" value))))

(defun jank-hotpatch--stage-times (report)
  "The time of every stage of REPORT, e.g. \"read 0.2 · compile 31 ms\"."
  (let ((stages (plist-get report :stages)))
    (concat (mapconcat (lambda (stage)
                         (format "%s %s" stage
                                 (jank-hotpatch--ms
                                  (plist-get stages
                                             (intern (format ":%sMs" stage))))))
                       jank-hotpatch-protocol-stages " · ")
            " ms")))

(defun jank-hotpatch--pages (n)
  "N pages, in words."
  (format "%s page%s" (or n 0) (if (eql n 1) "" "s")))

(defun jank-hotpatch--versions (report)
  "The version of each var of REPORT, e.g. \"demo.core/speed v2\"."
  (mapconcat (lambda (version)
               (format "%s/%s v%s" (plist-get version :ns) (plist-get version :name)
                       (plist-get version :version)))
             (plist-get report :versions) ", "))

(defun jank-hotpatch--log-line (report &optional time)
  "One line for the log about REPORT, stamped with TIME (default now)."
  (let ((file (when-let ((uri (plist-get report :uri)))
                (file-name-nondirectory (jank-hotpatch--uri-file uri))))
        (versions (jank-hotpatch--versions report)))
    (concat (format-time-string "%H:%M:%S " time)
            (if file (concat file " ") "")
            (jank-hotpatch--summary report)
            (if (plist-get report :stages)
                (format " | %s | %s" (jank-hotpatch--stage-times report)
                        (jank-hotpatch--pages (plist-get report :pages)))
              "")
            (if (string-empty-p versions) "" (concat " | " versions)))))

(defun jank-hotpatch--log-report (report)
  "Log REPORT: its line, what the code printed in the page, its warnings."
  (jank-hotpatch--log (jank-hotpatch--log-line report))
  (seq-doseq (line (plist-get report :output))
    (jank-hotpatch--log (concat "  > " line)))
  (seq-doseq (warning (plist-get report :warnings))
    (jank-hotpatch--log (concat "  warning: " warning))))

(defun jank-hotpatch--uri-file (uri)
  "The file name of the file URI."
  (decode-coding-string
   (url-unhex-string (url-filename (url-generic-parse-url uri)))
   'utf-8))

;;; Mode line

(defun jank-hotpatch--busy-p (status requests)
  "Return non-nil if STATUS is busy or REQUESTS are unanswered."
  (or (> requests 0) (jank-hotpatch--true-p (plist-get status :busy))))

(defun jank-hotpatch--lighter-state (report status busy)
  "The words in the lighter's brackets for REPORT, STATUS and BUSY, or nil.
While code in the pages throws (STATUS has runtime errors), they end in \"✗rt\"."
  (let ((state (jank-hotpatch--patch-state report status busy))
        (failing (and (numberp (plist-get status :runtimeErrors))
                      (> (plist-get status :runtimeErrors) 0))))
    (cond ((and state failing) (concat state " ✗rt"))
          (failing "✗rt")
          (t state))))

(defun jank-hotpatch--patch-state (report status busy)
  "The word for the last patch in REPORT, STATUS and BUSY, or nil."
  (cond (busy "…")
        ((jank-hotpatch--failed-p report) "!")
        ((equal (plist-get status :health) "error") "!")
        ((null report) nil)
        ((seq-empty-p (plist-get report :forms)) "no change")
        (t (format "%dms" (round (or (plist-get report :totalMs) 0))))))

(defun jank-hotpatch--lighter-text (report status busy)
  "The lighter's text for REPORT, STATUS and BUSY, e.g. \" jank[84ms]\"."
  (let ((state (jank-hotpatch--lighter-state report status busy)))
    (if state (format " jank[%s]" state) " jank")))

(defun jank-hotpatch--failed-p (report)
  "Whether REPORT is of a patch that failed."
  (and report (not (jank-hotpatch--true-p (plist-get report :ok)))))

(defun jank-hotpatch--lighter-face (report status)
  "The face of the lighter for REPORT and STATUS, or nil."
  (cond ((jank-hotpatch--failed-p report) 'error)
        ((and (numberp (plist-get status :runtimeErrors))
              (> (plist-get status :runtimeErrors) 0))
         'error)
        ((equal (plist-get status :health) "error") 'error)
        ((equal (plist-get status :health) "warning") 'warning)))

(defun jank-hotpatch--help-echo (report status)
  "The lighter's tooltip: the last patch of REPORT and the sidecar's STATUS."
  (string-join
   (delq nil
         (list (if report
                   (concat "jank-hotpatch: " (jank-hotpatch--summary report))
                 "jank-hotpatch: no patch yet")
               (when (plist-get report :stages)
                 (jank-hotpatch--stage-times report))
               (when-let ((pages (or (plist-get report :pages)
                                     (plist-get status :pages))))
                 (jank-hotpatch--pages pages))
               (when status
                 (format "sidecar: %s" (or (plist-get status :message) "")))
               (jank-hotpatch--sidecar)
               "mouse-1: show the log of patches"))
   "\n"))

(defun jank-hotpatch--describe-sidecar (connection)
  "Describe the sidecar of CONNECTION.
For example \"jank-hotpatch 0.1.0 (/usr/bin/jank-hotpatch)\"."
  (let ((info (jank-hotpatch-connection-server-info connection)))
    (format "%s %s (%s)" (or (plist-get info :name) "jank-hotpatch")
            (or (plist-get info :version) "of no stated version")
            (car (jank-hotpatch-connection-program connection)))))

(defun jank-hotpatch--sidecar ()
  "Describe the sidecar of this buffer's own connection, or return nil."
  (when-let ((connection (and (eq jank-hotpatch--buffer-client 'own)
                              (jank-hotpatch-connection-live))))
    (jank-hotpatch--describe-sidecar connection)))

(defun jank-hotpatch--version-mismatch (program version)
  "What to warn about when the sidecar PROGRAM is VERSION, or nil.
This package is made for the sidecar of its own version."
  (unless (equal version jank-hotpatch-protocol-version)
    (format (concat "The sidecar %s is %s, this package %s: some features"
                    " may not work.  Install the same version of both, or set"
                    " `jank-hotpatch-server-command'")
            program (if version (concat "version " version) "of no stated version")
            jank-hotpatch-protocol-version)))

(defvar jank-hotpatch--sidecars-seen nil
  "The sidecars already noted, as (PROGRAM . VERSION).
Each is logged, and warned about if need be, once.")

(defun jank-hotpatch--note-sidecar (connection)
  "Log the sidecar of CONNECTION; warn when its version is not ours.
Once for each program and version."
  (let* ((program (car (jank-hotpatch-connection-program connection)))
         (version (plist-get (jank-hotpatch-connection-server-info connection) :version))
         (seen (cons program version)))
    (unless (member seen jank-hotpatch--sidecars-seen)
      (push seen jank-hotpatch--sidecars-seen)
      (jank-hotpatch--log (format "sidecar: %s; this package is %s"
                                  (jank-hotpatch--describe-sidecar connection)
                                  jank-hotpatch-protocol-version))
      (when-let ((mismatch (jank-hotpatch--version-mismatch program version)))
        (display-warning 'jank-hotpatch mismatch)))))

(defvar jank-hotpatch--mode-line-map
  (let ((map (make-sparse-keymap)))
    (define-key map [mode-line mouse-1] #'jank-hotpatch-show-log)
    map)
  "Keys of the lighter.")

(defun jank-hotpatch--mode-line ()
  "The lighter of `jank-hotpatch-mode', from this buffer's state."
  (let ((report jank-hotpatch--report)
        (status (jank-hotpatch--status)))
    (propertize (jank-hotpatch--lighter-text
                 report status
                 (jank-hotpatch--busy-p status jank-hotpatch--requests))
                'face (jank-hotpatch--lighter-face report status)
                'help-echo (jank-hotpatch--help-echo report status)
                'mouse-face 'mode-line-highlight
                'local-map jank-hotpatch--mode-line-map)))

(defvar jank-hotpatch-mode-line '(:eval (jank-hotpatch--mode-line))
  "The mode line construct of `jank-hotpatch-mode'.")
(put 'jank-hotpatch-mode-line 'risky-local-variable t)

;;; Log

(defconst jank-hotpatch-log-buffer "*jank-hotpatch*"
  "The buffer with one line per patch, and what the code printed in the page.")

(defun jank-hotpatch--log (line)
  "Append LINE to the log buffer."
  (with-current-buffer (get-buffer-create jank-hotpatch-log-buffer)
    (unless (derived-mode-p 'special-mode) (special-mode))
    (let ((inhibit-read-only t))
      (save-excursion
        (goto-char (point-max))
        (insert line "\n")))))

(defun jank-hotpatch-show-log ()
  "Show the log of patches: one line per patch, with the time of every stage."
  (interactive)
  (let ((buffer (get-buffer-create jank-hotpatch-log-buffer)))
    (with-current-buffer buffer
      (unless (derived-mode-p 'special-mode) (special-mode))
      (goto-char (point-max)))
    (display-buffer buffer)))

;;; Overlays

(defvar-local jank-hotpatch--results-shown nil
  "Whether values may be shown after forms (so that edits need not look).")

(defun jank-hotpatch--truncate (value)
  "VALUE on one line, cut to `jank-hotpatch-result-max-width'."
  (truncate-string-to-width
   (replace-regexp-in-string "\n" " " (format "%s" value))
   jank-hotpatch-result-max-width nil nil "…"))

(defun jank-hotpatch--show-result (value start end)
  "Show VALUE as \"=> VALUE\" after the form from START to END.
Return the overlay.  It goes away when the buffer changes or after
`jank-hotpatch-result-lifetime' seconds."
  (let ((line-end (save-excursion (goto-char end) (line-end-position))))
    (remove-overlays start line-end 'category 'jank-hotpatch-result-overlay)
    (let ((overlay (make-overlay start line-end nil nil t)))
      (setq jank-hotpatch--results-shown t)
      (overlay-put overlay 'category 'jank-hotpatch-result-overlay)
      (overlay-put overlay 'after-string
                   (concat " " (propertize
                                (concat "=> " (jank-hotpatch--truncate value))
                                'face 'jank-hotpatch-result)))
      (when jank-hotpatch-result-lifetime
        (run-at-time jank-hotpatch-result-lifetime nil
                     #'delete-overlay overlay))
      overlay)))

(defun jank-hotpatch--remove-results (&rest _change)
  "Remove the values shown after forms (on any change of the buffer)."
  (when jank-hotpatch--results-shown
    (setq jank-hotpatch--results-shown nil)
    (jank-hotpatch--remove-overlays 'jank-hotpatch-result-overlay)))

(defun jank-hotpatch--remove-overlays (category)
  "Remove this buffer's overlays of CATEGORY."
  (save-restriction
    (widen)
    (remove-overlays (point-min) (point-max) 'category category)))

(defun jank-hotpatch--flash (start end)
  "Highlight START to END for `jank-hotpatch-flash-duration' seconds."
  (when jank-hotpatch-flash-duration
    (let ((overlay (make-overlay start end)))
      (overlay-put overlay 'category 'jank-hotpatch-flash-overlay)
      (overlay-put overlay 'face 'jank-hotpatch-flash)
      (run-at-time jank-hotpatch-flash-duration nil #'delete-overlay overlay)
      overlay)))

(defun jank-hotpatch--form-bounds (form)
  "Start and end in this buffer of the FORM of a report, or nil."
  (when-let ((range (plist-get form :range)))
    (save-restriction
      (widen)
      (cons (jank-hotpatch--point (plist-get range :start))
            (jank-hotpatch--point (plist-get range :end))))))

;;; Notifications

(defvar jank-hotpatch--statuses (make-hash-table :test #'eq :weakness 'key)
  "The last server status (a plist) of every connection to a sidecar.
Keyed by own connection, eglot server or lsp-mode workspace.")

(defun jank-hotpatch--connections ()
  "Return this buffer's live connections to a sidecar, a list."
  (pcase (or jank-hotpatch--buffer-client jank-hotpatch-client)
    ('own (delq nil (list (jank-hotpatch-connection-live))))
    ('eglot (delq nil (list (eglot-current-server))))
    ('lsp-mode (delq nil (list (jank-hotpatch--lsp-workspace))))))

(defun jank-hotpatch--status ()
  "Return the last server status of this buffer's sidecar, or nil.
A buffer of the mode that cannot reach its own sidecar has an
error status saying why."
  (or (seq-some (lambda (connection) (gethash connection jank-hotpatch--statuses))
                (jank-hotpatch--connections))
      (when-let ((problem (and jank-hotpatch-mode buffer-file-name
                               (eq jank-hotpatch--buffer-client 'own)
                               (jank-hotpatch-connection-problem))))
        (list :health "error" :busy :json-false :message problem))))

(defun jank-hotpatch--handle-patch-status (report connection)
  "Show REPORT, a patch status from CONNECTION, in the buffer it is about."
  (jank-hotpatch--log-report report)
  (let ((uri (plist-get report :uri)))
    (dolist (buffer (buffer-list))
      (with-current-buffer buffer
        (when (and jank-hotpatch-mode
                   (memq connection (jank-hotpatch--connections))
                   (equal (jank-hotpatch--buffer-uri) uri))
          (setq jank-hotpatch--report report)
          (when (jank-hotpatch--true-p (plist-get report :ok))
            (seq-doseq (form (plist-get report :forms))
              (when-let ((bounds (jank-hotpatch--form-bounds form)))
                (jank-hotpatch--flash (car bounds) (cdr bounds)))))
          (force-mode-line-update))))))

(defun jank-hotpatch--handle-server-status (status connection)
  "Keep STATUS, a server status notification of CONNECTION, for the lighters."
  (puthash connection status jank-hotpatch--statuses)
  (force-mode-line-update t))

(defun jank-hotpatch--notified (connection method params)
  "Handle the notification METHOD with PARAMS from CONNECTION, of our own."
  (let ((name (symbol-name method)))
    (cond ((equal name jank-hotpatch-protocol-patch-status)
           (jank-hotpatch--handle-patch-status params connection))
          ((equal name jank-hotpatch-protocol-server-status)
           (jank-hotpatch--handle-server-status params connection))
          ((and (equal name "window/logMessage")
                (string-prefix-p jank-hotpatch-protocol-runtime-source
                                 (or (plist-get params :message) "")))
           ;; An error thrown by code running in a page, with its count.
           (jank-hotpatch--log (plist-get params :message))))))

(cl-defmethod eglot-handle-notification
  (server (_method (eql (intern jank-hotpatch-protocol-patch-status))) &rest report)
  "Show REPORT, the result of a patch that SERVER ran."
  (jank-hotpatch--handle-patch-status report server))

(cl-defmethod eglot-handle-notification
  (server (_method (eql (intern jank-hotpatch-protocol-server-status))) &rest status)
  "Keep STATUS, the health of SERVER, for the lighter."
  (jank-hotpatch--handle-server-status status server))

;;; Commands

(defun jank-hotpatch--form-position ()
  "Where the form to patch is.
That is point inside a form, else the start of the top-level form
around or before point."
  (if (> (car (syntax-ppss)) 0)
      (point)
    (save-excursion
      (end-of-defun)
      (beginning-of-defun)
      (point))))

(defun jank-hotpatch--report-value (report)
  "Show the value in REPORT after its form, and say how the patch went."
  (let ((form (seq-find #'identity (plist-get report :forms)))
        (value (plist-get report :value)))
    (when-let ((bounds (and value form (jank-hotpatch--form-bounds form))))
      (jank-hotpatch--show-result value (car bounds) (cdr bounds)))
    (message "jank: %s" (jank-hotpatch--summary report))))

(defun jank-hotpatch-form ()
  "Patch the top-level form at point into the app's pages.
An expression is evaluated in the pages, and its value shown after it."
  (interactive)
  (jank-hotpatch--request
   jank-hotpatch-protocol-hot-patch-form
   (list :uri (jank-hotpatch--buffer-uri)
         :position (jank-hotpatch--lsp-position
                    (jank-hotpatch--form-position)))
   #'jank-hotpatch--report-value))

(defun jank-hotpatch-file ()
  "Patch every form of this file that changed since its last patch."
  (interactive)
  (jank-hotpatch--request jank-hotpatch-protocol-hot-patch-file
                          (list :uri (jank-hotpatch--buffer-uri))
                          #'jank-hotpatch--report-value))

(defun jank-hotpatch-undo ()
  "Take the definition at point back to its previous version in every page.
The pages still have the earlier side module: nothing is built.
Undoing again goes back one more version."
  (interactive)
  (jank-hotpatch--request
   jank-hotpatch-protocol-undo-patch
   (list :uri (jank-hotpatch--buffer-uri)
         :position (jank-hotpatch--lsp-position
                    (jank-hotpatch--form-position)))
   #'jank-hotpatch--report-value))

(defun jank-hotpatch--app-url-file ()
  "Where the sidecar writes the app's URL, relative to the workspace.
In `jank-hotpatch-cache-dir', as the sidecar's cacheDir."
  (concat (file-name-as-directory (or jank-hotpatch-cache-dir
                                     jank-hotpatch-protocol-cache-dir))
          jank-hotpatch-protocol-app-url-file))

(defun jank-hotpatch--app-url ()
  "The app's URL: from the sidecar's status, else from the file it writes.
The file is app-url in `jank-hotpatch-cache-dir' (.jank-hotpatch)."
  (or (plist-get (jank-hotpatch--status) :appUrl)
      (let* ((file (jank-hotpatch--app-url-file))
             (dir (if (file-name-absolute-p file)
                      default-directory
                    (locate-dominating-file default-directory file))))
        (when (and dir (file-readable-p (expand-file-name file dir)))
          (with-temp-buffer
            (insert-file-contents (expand-file-name file dir))
            (string-trim (buffer-string)))))))

(defun jank-hotpatch-reconnect ()
  "Restart the sidecar of this buffer's own connection; new settings apply.
Every buffer of the same sidecar connects again."
  (interactive)
  (unless (eq jank-hotpatch--buffer-client 'own)
    (user-error "This buffer talks to the sidecar through %s: restart it there"
                jank-hotpatch--buffer-client))
  (let ((buffers (if-let ((connection jank-hotpatch-connection--current))
                     (jank-hotpatch-connection--buffers connection)
                   (list (current-buffer)))))
    (dolist (buffer buffers)
      (with-current-buffer buffer (jank-hotpatch-mode -1)))
    (dolist (buffer buffers)
      (with-current-buffer buffer (jank-hotpatch-mode 1)))))

(defun jank-hotpatch-open-app ()
  "Open the app's page, served by the sidecar, in a browser."
  (interactive)
  (browse-url (or (jank-hotpatch--app-url)
                  (user-error "The sidecar has not told the app's URL yet"))))

;;; Minor mode

(defvar jank-hotpatch-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'jank-hotpatch-form)
    (define-key map (kbd "C-M-x") #'jank-hotpatch-form)
    (define-key map (kbd "C-c C-k") #'jank-hotpatch-file)
    (define-key map (kbd "C-c C-u") #'jank-hotpatch-undo)
    map)
  "Keymap of `jank-hotpatch-mode'.")

;;;###autoload
(define-minor-mode jank-hotpatch-mode
  "Hot-patch this jank buffer's forms into the app's running pages.

Saving patches the forms that changed (the sidecar does it, see
`jank-hotpatch-on-save').  \\[jank-hotpatch-form] patches the form
at point and shows an expression's value after it.  The lighter
shows how long the last patch took, or `!' when it failed; click
it for the log.  The mode starts the sidecar and talks to it on a
connection of its own, beside whatever server eglot or lsp-mode
runs for the buffer; see `jank-hotpatch-client' for the others.

\\{jank-hotpatch-mode-map}"
  :lighter jank-hotpatch-mode-line
  :keymap jank-hotpatch-mode-map
  (setq jank-hotpatch--report nil
        jank-hotpatch--requests 0)
  (if jank-hotpatch-mode
      (progn
        (add-hook 'after-change-functions #'jank-hotpatch--remove-results nil t)
        (setq jank-hotpatch--buffer-client jank-hotpatch-client)
        (when (eq jank-hotpatch--buffer-client 'lsp-mode)
          (jank-hotpatch--register-with-lsp-mode))
        (when (and (eq jank-hotpatch--buffer-client 'own) buffer-file-name)
          (condition-case err
              (jank-hotpatch--note-sidecar
               (jank-hotpatch-connection-attach
                (jank-hotpatch-server-program)
                (jank-hotpatch-initialization-options)
                #'jank-hotpatch--notified))
            ;; The lighter shows it too (see `jank-hotpatch--status').
            (error (message "jank-hotpatch: %s" (error-message-string err))))))
    (remove-hook 'after-change-functions #'jank-hotpatch--remove-results t)
    (when (eq jank-hotpatch--buffer-client 'own)
      (jank-hotpatch-connection-detach))
    (setq jank-hotpatch--buffer-client nil)
    (jank-hotpatch--remove-results)
    (jank-hotpatch--remove-overlays 'jank-hotpatch-flash-overlay)))

(provide 'jank-hotpatch)
;;; jank-hotpatch.el ends here
