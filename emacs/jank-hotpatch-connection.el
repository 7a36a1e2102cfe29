;;; jank-hotpatch-connection.el --- A connection of its own to the jank-hotpatch sidecar -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The jank-hotpatch contributors

;; Author: The jank-hotpatch contributors
;; URL: https://github.com/jank-hotpatch/jank-hotpatch
;; Keywords: languages, tools, lisp
;; SPDX-License-Identifier: MIT OR Apache-2.0

;; This file is not part of GNU Emacs.

;;; Commentary:

;; The sidecar speaks LSP.  `jank-hotpatch-mode' talks to it over a
;; JSON-RPC connection of its own (jsonrpc.el, the library eglot is
;; built on), so that the buffer's eglot or lsp-mode server stays the
;; one the user chose (clojure-lsp, say), or none.
;;
;; This file owns that connection: starting and stopping the sidecar,
;; the LSP handshake, the text of the buffers it follows (sent whole on
;; every change), their positions in UTF-16 code units, and the
;; sidecar's diagnostics, which a flymake backend of its own reports
;; beside those of other servers.  It knows nothing of patches: the
;; sidecar's own notifications go to the dispatcher it is given.
;;
;; One connection per workspace (the directory with jank-hotpatch.toml,
;; else the project's root), shared by that workspace's buffers, shut
;; down when the last of them leaves.

;;; Code:

(require 'cl-lib)
(require 'flymake)
(require 'jank-hotpatch-protocol)
(require 'jsonrpc)
(require 'project)
(require 'seq)
(require 'subr-x)
(require 'url-parse)
(require 'url-util)

(defconst jank-hotpatch-connection-change-delay 0.5
  "Idle seconds after an edit before the new text goes to the sidecar.")

(defclass jank-hotpatch-connection (jsonrpc-process-connection)
  ((root :initarg :root :reader jank-hotpatch-connection-root
         :documentation "The workspace directory the sidecar serves.")
   (buffers :initform nil :accessor jank-hotpatch-connection--buffers
            :documentation "The buffers whose text the sidecar follows.")
   (dispatcher :initarg :dispatcher :reader jank-hotpatch-connection--dispatcher
               :documentation "Function of (CONNECTION METHOD PARAMS) for the
notifications this file does not handle itself.")
   (program :initarg :program :reader jank-hotpatch-connection-program
            :documentation "The command that started the sidecar, a list.")
   (server-info :initform nil :accessor jank-hotpatch-connection-server-info
                :documentation "The serverInfo of the sidecar's answer to
initialize: its :name and :version."))
  "A connection of `jank-hotpatch-mode' to a sidecar, one per workspace.")

(defvar jank-hotpatch-connection--all (make-hash-table :test #'equal)
  "The live connections, by workspace directory.")

(defvar-local jank-hotpatch-connection--current nil
  "The connection this buffer's text goes to, or nil.")

(defvar-local jank-hotpatch-connection--version 0
  "The version of this buffer's text as the sidecar was last told.")

(defvar-local jank-hotpatch-connection--dirty nil
  "Whether this buffer changed since its text was last sent.")

(defvar-local jank-hotpatch-connection--timer nil
  "The idle timer that will send this buffer's changes, or nil.")

(defvar-local jank-hotpatch-connection--diagnostics nil
  "The sidecar's last diagnostics for this buffer, as flymake diagnostics.")

(defvar-local jank-hotpatch-connection--start-error nil
  "Why the sidecar did not start for this buffer, or nil.")

(defvar-local jank-hotpatch-connection--report-fn nil
  "The function flymake gave `jank-hotpatch-connection-flymake', or nil.")

;;; Workspace, URIs and positions

(defun jank-hotpatch-connection-workspace ()
  "The workspace of this buffer: where jank-hotpatch.toml is, else the project."
  (file-name-as-directory
   (expand-file-name
    (or (locate-dominating-file default-directory "jank-hotpatch.toml")
        (when-let ((project (project-current))) (project-root project))
        default-directory))))

(defconst jank-hotpatch-connection--uri-chars
  (let ((chars (copy-sequence url-path-allowed-chars)))
    (aset chars ?: nil)
    chars)
  "Characters left as they are in the path of a file URI.")

(defun jank-hotpatch-connection-path-uri (path)
  "The file URI of PATH: eglot's public conversion where it has one."
  (if (fboundp 'eglot-path-to-uri)
      (eglot-path-to-uri path)
    (concat "file://"
            (url-hexify-string (file-truename path)
                               jank-hotpatch-connection--uri-chars))))

(defun jank-hotpatch-connection-uri ()
  "The URI of this buffer's file, as this connection sends it."
  (jank-hotpatch-connection-path-uri buffer-file-name))

(defun jank-hotpatch-connection--utf16-units (start end)
  "How many UTF-16 code units the text from START to END is."
  (let ((units 0))
    (dolist (char (string-to-list (buffer-substring-no-properties start end)))
      (setq units (+ units (if (> char #xFFFF) 2 1))))
    units))

(defun jank-hotpatch-connection-position (pos)
  "POS as an LSP position: its line and its UTF-16 column."
  (save-excursion
    (save-restriction
      (widen)
      (goto-char pos)
      (list :line (1- (line-number-at-pos pos t))
            :character (jank-hotpatch-connection--utf16-units
                        (line-beginning-position) pos)))))

(defun jank-hotpatch-connection-point (position)
  "The buffer position of the LSP POSITION plist (a UTF-16 column)."
  (save-excursion
    (save-restriction
      (widen)
      (goto-char (point-min))
      (forward-line (plist-get position :line))
      (let ((units (plist-get position :character))
            (end (line-end-position)))
        (while (and (> units 0) (< (point) end))
          (setq units (- units (if (> (char-after) #xFFFF) 2 1)))
          (forward-char 1))
        (point)))))

;;; Starting and stopping

(defun jank-hotpatch-connection--capabilities ()
  "Return what this client can do, for the LSP initialize request."
  '(:workspace (:configuration :json-false :workspaceFolders t)
    :window (:workDoneProgress :json-false :showMessage nil)
    :textDocument (:synchronization (:didSave t :willSave :json-false)
                   :publishDiagnostics (:relatedInformation :json-false))))

(defun jank-hotpatch-connection--start (root program options dispatcher)
  "Start the sidecar PROGRAM for ROOT; return the initialized connection.
OPTIONS are its initializationOptions; DISPATCHER gets the
notifications this file does not handle."
  ;; jsonrpc names the process's buffers after the connection: one name per
  ;; workspace, so that two workspaces of the same name never share them.
  (let* ((name (format "jank-hotpatch %s" (abbreviate-file-name root)))
         (default-directory root)
         connection)
    (condition-case err
        (progn
          (setq connection
                (make-instance
                 'jank-hotpatch-connection
                 :name name :root root :dispatcher dispatcher :program program
                 :events-buffer-scrollback-size 2000000
                 :process (lambda ()
                            (make-process
                             :name name :command program
                             :connection-type 'pipe :coding 'utf-8-emacs-unix
                             :noquery t
                             :stderr (get-buffer-create
                                      (format "*%s stderr*" name))))
                 :notification-dispatcher #'jank-hotpatch-connection--notified
                 :request-dispatcher #'jank-hotpatch-connection--requested
                 :on-shutdown #'jank-hotpatch-connection--gone))
          (setf (jank-hotpatch-connection-server-info connection)
                (plist-get
                 (jsonrpc-request
                  connection :initialize
                  (list :processId (emacs-pid)
                        :clientInfo (list :name "jank-hotpatch.el"
                                          :version jank-hotpatch-protocol-version)
                        :rootPath root
                        :rootUri (jank-hotpatch-connection-path-uri root)
                        :workspaceFolders
                        (vector (list :uri (jank-hotpatch-connection-path-uri root)
                                      :name (file-name-nondirectory
                                             (directory-file-name root))))
                        :capabilities (jank-hotpatch-connection--capabilities)
                        :initializationOptions options)
                  :timeout 30)
                 :serverInfo)))
      (error
       (when connection (ignore-errors (jsonrpc-shutdown connection t)))
       (error "The sidecar (%s) did not start: %s; see the buffer *%s stderr*"
              (string-join program " ") (error-message-string err) name)))
    (jsonrpc-notify connection :initialized (make-hash-table))
    (puthash root connection jank-hotpatch-connection--all)
    connection))

(defun jank-hotpatch-connection-shutdown (connection)
  "Ask the sidecar of CONNECTION to exit, and wait until it has."
  (remhash (jank-hotpatch-connection-root connection)
           jank-hotpatch-connection--all)
  (let ((process (jsonrpc--process connection)))
    (when (process-live-p process)
      (ignore-errors (jsonrpc-request connection :shutdown nil :timeout 3))
      (ignore-errors (jsonrpc-notify connection :exit nil))
      ;; `jsonrpc-shutdown' kills at once: give the sidecar a moment to exit.
      (with-timeout (3)
        (while (process-live-p process)
          (accept-process-output process 0.05)))))
  (jsonrpc-shutdown connection t))

(defun jank-hotpatch-connection--gone (connection)
  "Forget CONNECTION, whose sidecar exited, and say so."
  (let ((root (jank-hotpatch-connection-root connection)))
    (when (eq (gethash root jank-hotpatch-connection--all) connection)
      (remhash root jank-hotpatch-connection--all)
      (message "jank-hotpatch: the sidecar for %s exited; %s" root
               "M-x jank-hotpatch-reconnect starts it again"))))

;;; Messages from the sidecar

(defun jank-hotpatch-connection--notified (connection method params)
  "Handle the notification METHOD with PARAMS from CONNECTION."
  (pcase method
    ('textDocument/publishDiagnostics
     (jank-hotpatch-connection--diagnosed connection params))
    ('window/showMessage
     ;; Errors and warnings (1, 2) are worth the echo area; all of them are
     ;; in the connection's events buffer anyway.
     (when (<= (plist-get params :type) 2)
       (message "%s" (plist-get params :message))))
    ;; The rest, log lines included (those of the pages' runtime errors
    ;; belong in the package's log), are the package's to handle.
    (_ (funcall (jank-hotpatch-connection--dispatcher connection)
                connection method params))))

(defun jank-hotpatch-connection--requested (_connection method _params)
  "Answer the request METHOD: this client declared none it would serve."
  (jsonrpc-error :code -32601
                 :message (format "jank-hotpatch.el does not serve %s" method)))

;;; Buffers

(defun jank-hotpatch-connection-attach (program options dispatcher)
  "Follow this buffer's text in the sidecar of its workspace.
Start the sidecar, as the list PROGRAM with initializationOptions
OPTIONS, when the workspace has none running.  DISPATCHER gets the
notifications of the sidecar that are not about the text.  Return
the connection."
  (let* ((root (jank-hotpatch-connection-workspace))
         (running (gethash root jank-hotpatch-connection--all))
         (connection
          ;; A sidecar that just exited may not be forgotten yet: start another.
          (or (and running (jsonrpc-running-p running) running)
              (condition-case err
                  (jank-hotpatch-connection--start root program options dispatcher)
                (error (setq jank-hotpatch-connection--start-error
                             (error-message-string err))
                       (signal (car err) (cdr err)))))))
    (setq jank-hotpatch-connection--start-error nil
          jank-hotpatch-connection--current connection
          jank-hotpatch-connection--version 0
          jank-hotpatch-connection--dirty nil)
    (cl-pushnew (current-buffer) (jank-hotpatch-connection--buffers connection))
    (jsonrpc-notify connection :textDocument/didOpen
                    (list :textDocument
                          (list :uri (jank-hotpatch-connection-uri)
                                :languageId "jank"
                                :version jank-hotpatch-connection--version
                                :text (jank-hotpatch-connection--text))))
    (add-hook 'after-change-functions #'jank-hotpatch-connection--changed nil t)
    (add-hook 'after-save-hook #'jank-hotpatch-connection--saved nil t)
    (add-hook 'kill-buffer-hook #'jank-hotpatch-connection-detach nil t)
    (add-hook 'change-major-mode-hook #'jank-hotpatch-connection-detach nil t)
    (jank-hotpatch-connection--join-flymake)
    ;; eglot replaces the buffer's flymake backends with its own when it
    ;; starts managing the buffer: join them again.
    (add-hook 'eglot-managed-mode-hook #'jank-hotpatch-connection--join-flymake
              nil t)
    connection))

(defun jank-hotpatch-connection-detach ()
  "Stop following this buffer's text; stop the sidecar if it was the last."
  (remove-hook 'after-change-functions #'jank-hotpatch-connection--changed t)
  (remove-hook 'after-save-hook #'jank-hotpatch-connection--saved t)
  (remove-hook 'kill-buffer-hook #'jank-hotpatch-connection-detach t)
  (remove-hook 'change-major-mode-hook #'jank-hotpatch-connection-detach t)
  (remove-hook 'eglot-managed-mode-hook #'jank-hotpatch-connection--join-flymake
               t)
  (remove-hook 'flymake-diagnostic-functions #'jank-hotpatch-connection-flymake t)
  (jank-hotpatch-connection--report nil)
  (setq jank-hotpatch-connection--report-fn nil)
  (when (timerp jank-hotpatch-connection--timer)
    (cancel-timer jank-hotpatch-connection--timer))
  (when-let ((connection jank-hotpatch-connection--current))
    (setq jank-hotpatch-connection--current nil)
    (setf (jank-hotpatch-connection--buffers connection)
          (delq (current-buffer) (jank-hotpatch-connection--buffers connection)))
    (when (jsonrpc-running-p connection)
      (jsonrpc-notify connection :textDocument/didClose
                      (list :textDocument
                            (list :uri (jank-hotpatch-connection-uri))))
      (unless (jank-hotpatch-connection--buffers connection)
        (jank-hotpatch-connection-shutdown connection)))))

(defun jank-hotpatch-connection-live ()
  "This buffer's connection, or nil when it has none or its sidecar exited."
  (let ((connection jank-hotpatch-connection--current))
    (and connection (jsonrpc-running-p connection) connection)))

(defun jank-hotpatch-connection--text ()
  "This buffer's whole text."
  (save-restriction
    (widen)
    (buffer-substring-no-properties (point-min) (point-max))))

(defun jank-hotpatch-connection--changed (&rest _change)
  "Note that the buffer changed; send the text when Emacs is idle."
  (setq jank-hotpatch-connection--dirty t)
  (when (timerp jank-hotpatch-connection--timer)
    (cancel-timer jank-hotpatch-connection--timer))
  (let ((buffer (current-buffer)))
    (setq jank-hotpatch-connection--timer
          (run-with-idle-timer
           jank-hotpatch-connection-change-delay nil
           (lambda ()
             (when (buffer-live-p buffer)
               (with-current-buffer buffer
                 (jank-hotpatch-connection-send-changes))))))))

(defun jank-hotpatch-connection-send-changes ()
  "Send the buffer's text to the sidecar if it changed since it was last sent."
  (when-let ((connection (and jank-hotpatch-connection--dirty
                              (jank-hotpatch-connection-live))))
    (setq jank-hotpatch-connection--dirty nil)
    (cl-incf jank-hotpatch-connection--version)
    (jsonrpc-notify connection :textDocument/didChange
                    (list :textDocument
                          (list :uri (jank-hotpatch-connection-uri)
                                :version jank-hotpatch-connection--version)
                          :contentChanges
                          (vector (list :text (jank-hotpatch-connection--text)))))))

(defun jank-hotpatch-connection--saved ()
  "Tell the sidecar the buffer was saved (it may then patch what changed)."
  (when-let ((connection (jank-hotpatch-connection-live)))
    (jank-hotpatch-connection-send-changes)
    (jsonrpc-notify connection :textDocument/didSave
                    (list :textDocument
                          (list :uri (jank-hotpatch-connection-uri))))))

(defun jank-hotpatch-connection-flushed ()
  "This buffer's live connection, once the sidecar has its text as it is now."
  (let ((connection (or (jank-hotpatch-connection-live)
                        (user-error "%s" (jank-hotpatch-connection-problem)))))
    (jank-hotpatch-connection-send-changes)
    connection))

(defun jank-hotpatch-connection-problem ()
  "Why this buffer cannot reach the sidecar, or nil if it can."
  (cond ((not buffer-file-name)
         "jank-hotpatch needs a buffer visiting a .jank file")
        (jank-hotpatch-connection--start-error
         (concat jank-hotpatch-connection--start-error
                 "; M-x jank-hotpatch-reconnect tries again"))
        ((not jank-hotpatch-connection--current)
         "This buffer is not connected to the sidecar; run M-x jank-hotpatch-reconnect")
        ((not (jsonrpc-running-p jank-hotpatch-connection--current))
         "The sidecar exited; M-x jank-hotpatch-reconnect starts it again")))

;;; Diagnostics

(defun jank-hotpatch-connection--join-flymake ()
  "Report the sidecar's diagnostics through flymake, beside other backends."
  (add-hook 'flymake-diagnostic-functions #'jank-hotpatch-connection-flymake nil t)
  (unless (bound-and-true-p flymake-mode) (flymake-mode 1)))

(defun jank-hotpatch-connection-flymake (report-fn &rest _args)
  "Flymake backend: report the sidecar's diagnostics with REPORT-FN.
They come when the sidecar publishes them, so REPORT-FN is also
called then, as often as they change."
  (setq jank-hotpatch-connection--report-fn report-fn)
  (jank-hotpatch-connection--report jank-hotpatch-connection--diagnostics))

(defun jank-hotpatch-connection--report (diagnostics)
  "Keep DIAGNOSTICS, and give them to flymake when it asked for them."
  (setq jank-hotpatch-connection--diagnostics diagnostics)
  (when jank-hotpatch-connection--report-fn
    (save-restriction
      (widen)
      ;; :region makes flymake drop the old ones even if the text is as it was.
      (funcall jank-hotpatch-connection--report-fn diagnostics
               :region (cons (point-min) (point-max))))))

(defun jank-hotpatch-connection--diagnosed (connection params)
  "Show the diagnostics of PARAMS, a publishDiagnostics from CONNECTION."
  (let ((uri (plist-get params :uri)))
    (dolist (buffer (jank-hotpatch-connection--buffers connection))
      (with-current-buffer buffer
        (when (equal (jank-hotpatch-connection-uri) uri)
          (jank-hotpatch-connection--report
           (mapcar #'jank-hotpatch-connection--diagnostic
                   (plist-get params :diagnostics))))))))

(defun jank-hotpatch-connection--diagnostic (diagnostic)
  "The LSP DIAGNOSTIC as a flymake diagnostic of this buffer."
  (let* ((range (plist-get diagnostic :range))
         (beg (jank-hotpatch-connection-point (plist-get range :start)))
         (end (jank-hotpatch-connection-point (plist-get range :end))))
    (when (= beg end)
      (when-let ((region (flymake-diag-region
                          (current-buffer)
                          (1+ (plist-get (plist-get range :start) :line))
                          (plist-get (plist-get range :start) :character))))
        (setq beg (car region) end (cdr region))))
    (flymake-make-diagnostic
     (current-buffer) beg end
     (pcase (plist-get diagnostic :severity)
       ((or 'nil 1) :error) (2 :warning) (_ :note))
     (concat (or (plist-get diagnostic :source) "jank-hotpatch") ": "
             (plist-get diagnostic :message)))))

(provide 'jank-hotpatch-connection)
;;; jank-hotpatch-connection.el ends here
