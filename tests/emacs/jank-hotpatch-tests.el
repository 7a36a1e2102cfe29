;;; jank-hotpatch-tests.el --- Tests of jank-hotpatch.el  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run with tests/emacs/run.sh [SELECTOR] (ERT in `emacs --batch').
;;
;; Three layers:
;; - the package itself: byte-compiles with warnings as errors, checkdoc
;;   has nothing to say, lsp-mode registration (in a separate Emacs);
;; - unit tests of the pure parts: lighter, log line, overlays,
;;   initializationOptions, registration, the minor mode's hooks;
;; - end to end (tests named `jank-hotpatch-test-e2e-...'): a real eglot
;;   connected to the real sidecar (target/debug/jank-hotpatch) in a demo
;;   workspace (`jank-hotpatch demo --prepare'), the stand-in jank
;;   (target/debug/jank-standin) and a real headless Chromium showing the
;;   demo page.  The page's DOM is read through the DevTools protocol by
;;   tests/emacs/cdp-eval.py (Python standard library only: node 20 has no
;;   built-in WebSocket).  They share one workspace, sidecar and browser,
;;   started by the first of them; each puts the demo file back as it was.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'json)
(require 'flymake)
(require 'checkdoc)
(require 'jank-hotpatch)

(defconst jank-hotpatch-test--root
  (expand-file-name "../.." (file-name-directory
                             (or load-file-name buffer-file-name)))
  "The repository.")

(defconst jank-hotpatch-test--package
  (expand-file-name "emacs/jank-hotpatch.el" jank-hotpatch-test--root))

(defconst jank-hotpatch-test--report
  '(:ok t :uri "file:///tmp/w/src/demo/core.jank"
    :forms [(:ns "demo.core" :name "speed"
             :range (:start (:line 6 :character 0) :end (:line 6 :character 17)))]
    :stages (:read_ms 0.21 :compile_ms 31.4 :build_ms 40.2 :check_ms 0.8
             :deliver_ms 2.5 :load_ms 0.7)
    :total_ms 84.4 :browsers 2)
  "A patch report as the sidecar sends it (JSON parsed by jsonrpc).")

(defconst jank-hotpatch-test--failure
  '(:ok :json-false :uri "file:///tmp/w/src/demo/core.jank"
    :forms [(:ns "demo.core" :name "speed"
             :range (:start (:line 6 :character 0) :end (:line 6 :character 17)))]
    :stages (:read_ms 0.2 :compile_ms 12 :build_ms 0 :check_ms 0
             :deliver_ms 0 :load_ms 0)
    :total_ms 12.3 :browsers 1
    :error (:stage "compile" :message "unable to resolve symbol: nope")))

(defconst jank-hotpatch-test--unchanged
  '(:ok t :uri "file:///tmp/w/src/demo/core.jank" :forms []
    :stages (:read_ms 0.1 :compile_ms 0 :build_ms 0 :check_ms 0
             :deliver_ms 0 :load_ms 0)
    :total_ms 0.3 :browsers 1
    :message "nothing changed since the last patch"))

(defun jank-hotpatch-test--emacs (&rest args)
  "Run a batch Emacs with ARGS; return (EXIT-STATUS . OUTPUT)."
  (with-temp-buffer
    (let ((status (apply #'call-process
                         (expand-file-name invocation-name invocation-directory)
                         nil t nil "--batch" "-L"
                         (expand-file-name "emacs" jank-hotpatch-test--root)
                         args)))
      (cons status (buffer-string)))))

(defun jank-hotpatch-test--last-log-line ()
  "The last line of the log buffer."
  (with-current-buffer jank-hotpatch-log-buffer
    (car (last (split-string (buffer-string) "\n" t)))))

;;; The package itself

(ert-deftest jank-hotpatch-test-byte-compiles-without-warnings ()
  (let* ((dir (make-temp-file "jank-hotpatch-elc-" t))
         (result
          (unwind-protect
              (jank-hotpatch-test--emacs
               "--eval"
               (format "%S"
                       `(progn
                          (setq byte-compile-error-on-warn t
                                byte-compile-dest-file-function
                                (lambda (_) ,(expand-file-name "x.elc" dir)))
                          (kill-emacs
                           (if (byte-compile-file ,jank-hotpatch-test--package)
                               0 1)))))
            (delete-directory dir t))))
    (should (equal result (cons 0 (cdr result))))
    (should-not (string-match-p "Warning\\|Error" (cdr result)))))

(ert-deftest jank-hotpatch-test-checkdoc-has-nothing-to-say ()
  (let* ((complaints '())
         (collect (lambda (point message)
                    (push (format "line %d: %s" (line-number-at-pos point) message)
                          complaints))))
    (advice-add 'checkdoc-error :before collect)
    (unwind-protect
        (let ((inhibit-message t))
          (checkdoc-file jank-hotpatch-test--package))
      (advice-remove 'checkdoc-error collect)
      (when-let ((buffer (get-file-buffer jank-hotpatch-test--package)))
        (kill-buffer buffer)))
    (should (equal (reverse complaints) '()))))

(ert-deftest jank-hotpatch-test-registers-with-lsp-mode ()
  (skip-unless (locate-library "lsp-mode"))
  (let ((result
         (jank-hotpatch-test--emacs
          "--eval"
          (format "%S"
                  '(progn
                     (require 'subr-x)
                     (require 'jank-hotpatch)
                     (require 'lsp-mode)
                     (let ((client (gethash 'jank-hotpatch lsp-clients)))
                       (prin1 (list (and client t)
                                    (and client
                                         (sort (hash-table-keys
                                                (lsp--client-notification-handlers
                                                 client))
                                               #'string<))
                                    (cdr (assq 'jank-mode
                                               lsp-language-id-configuration))
                                    (and client
                                         (with-temp-buffer
                                           (jank-mode)
                                           (funcall
                                            (lsp--client-activation-fn client)
                                            "x.jank" 'jank-mode)))))))))))
    (should (equal (car result) 0))
    (should (string-match-p
             (regexp-quote
              (concat "(t (\"jank/patchStatus\" \"jank/serverStatus\")"
                      " \"jank\" (\"jank\"))"))
             (cdr result)))))

;;; Registration and settings

(ert-deftest jank-hotpatch-test-jank-files-open-in-jank-mode ()
  (with-temp-buffer
    (setq buffer-file-name "/tmp/w/src/demo/core.jank")
    (set-auto-mode)
    (should (eq major-mode 'jank-mode))
    (should (derived-mode-p (if (featurep 'clojure-mode) 'clojure-mode 'lisp-data-mode)))
    (setq buffer-file-name nil)))

(ert-deftest jank-hotpatch-test-eglot-starts-the-sidecar-with-options ()
  (should (eq (cdr (assq 'jank-mode eglot-server-programs))
              'jank-hotpatch-eglot-contact))
  (let* ((jank-hotpatch-server-command '("/opt/jank-hotpatch" "lsp"))
         (contact (jank-hotpatch-eglot-contact)))
    (should (equal (seq-take contact 3)
                   '("/opt/jank-hotpatch" "lsp" :initializationOptions)))
    (should (functionp (nth 3 contact))))
  (let ((jank-hotpatch-server-command nil))
    (should (equal (last (jank-hotpatch-server-program)) '("lsp")))
    (should (string-match-p "jank-hotpatch\\'" (car (jank-hotpatch-server-program))))))

(ert-deftest jank-hotpatch-test-initialization-options-from-user-options ()
  (let ((jank-hotpatch-on-save t)
        (jank-hotpatch-nrepl-endpoint nil)
        (jank-hotpatch-toolchain nil)
        (jank-hotpatch-app-port nil))
    ;; Left at nil: jank-hotpatch.toml or the sidecar's defaults decide.
    (should (equal (jank-hotpatch-initialization-options) '(:patchOnSave t))))
  (let ((jank-hotpatch-on-save nil)
        (jank-hotpatch-nrepl-endpoint "127.0.0.1:5555")
        (jank-hotpatch-toolchain 'clang)
        (jank-hotpatch-app-port 9000))
    (let ((options (jank-hotpatch-initialization-options)))
      (should (equal options '(:patchOnSave :json-false
                               :nrepl (:endpoint "127.0.0.1:5555")
                               :build (:toolchain "clang")
                               :app (:port 9000))))
      (should (equal (json-serialize options :false-object :json-false
                                     :null-object nil)
                     (concat "{\"patchOnSave\":false,"
                             "\"nrepl\":{\"endpoint\":\"127.0.0.1:5555\"},"
                             "\"build\":{\"toolchain\":\"clang\"},"
                             "\"app\":{\"port\":9000}}"))))))

;;; Mode line and log

(ert-deftest jank-hotpatch-test-lighter-text ()
  (let ((report jank-hotpatch-test--report))
    (should (equal (jank-hotpatch--lighter-text nil nil nil) " jank"))
    (should (equal (jank-hotpatch--lighter-text report nil nil) " jank[84ms]"))
    (should (equal (jank-hotpatch--lighter-text report nil t) " jank[…]"))
    (should (equal (jank-hotpatch--lighter-text jank-hotpatch-test--failure nil nil)
                   " jank[!]"))
    (should (equal (jank-hotpatch--lighter-text jank-hotpatch-test--unchanged nil nil)
                   " jank[no change]"))
    (should (equal (jank-hotpatch--lighter-text nil '(:health "error") nil)
                   " jank[!]"))
    (should (jank-hotpatch--busy-p '(:busy t) 0))
    (should (jank-hotpatch--busy-p '(:busy :json-false) 1))
    (should-not (jank-hotpatch--busy-p '(:busy :json-false) 0))))

(defmacro jank-hotpatch-test--connected (connections &rest body)
  "Run BODY with buffers connected as CONNECTIONS says, without a sidecar.
CONNECTIONS is a list of (BUFFER CONNECTION URI)."
  (declare (indent 1) (debug t))
  `(let ((table ,connections))
     (cl-letf (((symbol-function 'jank-hotpatch--connections)
                (lambda () (when-let ((entry (assq (current-buffer) table)))
                             (list (nth 1 entry)))))
               ((symbol-function 'jank-hotpatch--buffer-uri)
                (lambda () (nth 2 (assq (current-buffer) table))))
               ((symbol-function 'jank-hotpatch--point)
                (lambda (position)
                  (save-excursion
                    (goto-char (point-min))
                    (forward-line (plist-get position :line))
                    (+ (point) (plist-get position :character))))))
       ,@body)))

(ert-deftest jank-hotpatch-test-lighter-tooltip-and-click ()
  (with-temp-buffer
    (jank-hotpatch-mode)
    (jank-hotpatch-test--connected `((,(current-buffer) ,(list 'server) "file:///x.jank"))
      (jank-hotpatch--handle-server-status
       '(:health "ok" :busy :json-false :message "ready" :browsers 2)
       (car (jank-hotpatch--connections)))
      (setq jank-hotpatch--report jank-hotpatch-test--report)
      ;; `format-mode-line' gives "" in batch Emacs: evaluate what it would.
      (should (equal (cadr (assq 'jank-hotpatch-mode minor-mode-alist))
                     'jank-hotpatch-mode-line))
      (should (equal jank-hotpatch-mode-line '(:eval (jank-hotpatch--mode-line))))
      (should (get 'jank-hotpatch-mode-line 'risky-local-variable))
      (let ((lighter (jank-hotpatch--mode-line)))
        (should (equal (substring-no-properties lighter) " jank[84ms]"))
        (should (equal (get-text-property 1 'help-echo lighter)
                       (concat "jank-hotpatch: patched demo.core/speed in 84 ms\n"
                               "read 0.2 · compile 31 · build 40 · check 0.8 · "
                               "deliver 2.5 · load 0.7 ms\n"
                               "2 browsers\nsidecar: ready\n"
                               "mouse-1: show the log of patches")))
        (should (eq (lookup-key (get-text-property 1 'local-map lighter)
                                [mode-line mouse-1])
                    #'jank-hotpatch-show-log)))
      (setq jank-hotpatch--report jank-hotpatch-test--failure)
      (should (eq (get-text-property 1 'face (jank-hotpatch--mode-line))
                  'error)))))

(ert-deftest jank-hotpatch-test-log-lines ()
  (let ((time (encode-time '(4 3 12 1 1 2026 nil nil nil))))
    (should (equal (jank-hotpatch--log-line jank-hotpatch-test--report time)
                   (concat "12:03:04 core.jank patched demo.core/speed in 84 ms"
                           " | read 0.2 · compile 31 · build 40 · check 0.8 ·"
                           " deliver 2.5 · load 0.7 ms | 2 browsers")))
    (should (equal (jank-hotpatch--log-line jank-hotpatch-test--failure time)
                   (concat "12:03:04 core.jank failed at compile: unable to resolve"
                           " symbol: nope | read 0.2 · compile 12 · build 0.0 ·"
                           " check 0.0 · deliver 0.0 · load 0.0 ms | 1 browser")))
    (should (string-prefix-p
             "12:03:04 core.jank nothing changed since the last patch | "
             (jank-hotpatch--log-line jank-hotpatch-test--unchanged time)))
    (should (equal (jank-hotpatch--log-line
                    (list :ok t :uri "file:///tmp/w/x.jank" :total_ms 3.25
                          :value "42"
                          :forms [(:ns "demo.core" :name nil)])
                    time)
                   "12:03:04 x.jank patched an expression in 3.2 ms => 42"))))

(ert-deftest jank-hotpatch-test-notifications-reach-their-buffers ()
  (let ((other (generate-new-buffer " other.jank"))
        (third (generate-new-buffer " third.jank"))
        (server (list 'server))
        (another-server (list 'another-server)))
    (unwind-protect
        (with-temp-buffer
          (insert "(ns demo.core)\n\n;; c\n\n\n\n(defn speed [] 3)\n")
          (dolist (buffer (list (current-buffer) other third))
            (with-current-buffer buffer (jank-hotpatch-mode)))
          (jank-hotpatch-test--connected
              `((,(current-buffer) ,server "file:///tmp/w/src/demo/core.jank")
                (,other ,server "file:///other.jank")
                (,third ,another-server "file:///tmp/w/src/demo/core.jank"))
            (jank-hotpatch--handle-server-status
             '(:health "ok" :busy t :message "patching") server)
            (should (equal (jank-hotpatch--mode-line) " jank[…]"))
            (should (equal (with-current-buffer other (jank-hotpatch--mode-line))
                           " jank[…]"))
            (should (equal (with-current-buffer third (jank-hotpatch--mode-line))
                           " jank"))
            (jank-hotpatch--handle-server-status
             '(:health "ok" :busy :json-false :message "ready") server)
            (jank-hotpatch--handle-patch-status jank-hotpatch-test--report server)
            (should (equal (jank-hotpatch--mode-line) " jank[84ms]"))
            ;; Another file of the same sidecar, the same file of another.
            (should (equal (with-current-buffer other (jank-hotpatch--mode-line))
                           " jank"))
            (should (equal (with-current-buffer third (jank-hotpatch--mode-line))
                           " jank"))
            ;; The patched form flashes.
            (let ((flash (seq-filter (lambda (o) (eq (overlay-get o 'category)
                                                     'jank-hotpatch-flash-overlay))
                                     (overlays-in (point-min) (point-max)))))
              (should (= (length flash) 1))
              (should (equal (buffer-substring (overlay-start (car flash))
                                               (overlay-end (car flash)))
                             "(defn speed [] 3)")))
            (should (string-match-p "core.jank patched demo.core/speed in 84 ms"
                                    (jank-hotpatch-test--last-log-line)))))
      (kill-buffer other)
      (kill-buffer third))))

;;; Overlays

(ert-deftest jank-hotpatch-test-result-overlay-shows-and-goes-on-change ()
  (with-temp-buffer
    (insert "(ns demo.core)\n\n(comment\n  (* 6 7)) ; the answer\n(defn f [] 1)\n")
    (jank-hotpatch-mode)
    (let* ((start (progn (goto-char (point-min)) (search-forward "(* 6") (- (point) 4)))
           (end (+ start 7))
           (overlay (jank-hotpatch--show-result "42" start end)))
      (should (eq (overlay-get overlay 'category) 'jank-hotpatch-result-overlay))
      (should (equal (substring-no-properties (overlay-get overlay 'after-string))
                     " => 42"))
      ;; After the end of the form's line, comments included.
      (should (= (overlay-end overlay) (save-excursion (goto-char end) (line-end-position))))
      ;; A second value for the same form replaces the first.
      (let ((second (jank-hotpatch--show-result "43" start end)))
        (should-not (overlay-buffer overlay))
        ;; Any change of the buffer removes it.
        (goto-char (point-max))
        (insert " ")
        (should-not (overlay-buffer second))))))

(ert-deftest jank-hotpatch-test-result-overlay-lifetime-and-width ()
  (with-temp-buffer
    (insert "(range 100)\n")
    (jank-hotpatch-mode)
    (let* ((jank-hotpatch-result-lifetime 0.1)
           (jank-hotpatch-result-max-width 12)
           (overlay (jank-hotpatch--show-result
                     (format "%S" (number-sequence 0 99)) 1 12)))
      (should (equal (substring-no-properties (overlay-get overlay 'after-string))
                     " => (0 1 2 3 4 …"))
      (let ((deadline (+ (float-time) 5)))
        (while (and (overlay-buffer overlay) (< (float-time) deadline))
          (accept-process-output nil 0.02)))
      (should-not (overlay-buffer overlay)))))

(ert-deftest jank-hotpatch-test-mode-hooks-are-buffer-local-and-mirrored ()
  (let ((global-hooks (list (default-value 'after-change-functions)
                            (default-value 'after-save-hook)
                            (default-value 'post-command-hook))))
    (with-temp-buffer
      (insert "(defn f [] 1)\n")
      (jank-hotpatch-mode 1)
      (should (memq #'jank-hotpatch--remove-results after-change-functions))
      (should (equal global-hooks (list (default-value 'after-change-functions)
                                        (default-value 'after-save-hook)
                                        (default-value 'post-command-hook))))
      (jank-hotpatch--show-result "1" 1 14)
      (jank-hotpatch--flash 1 14)
      (jank-hotpatch-mode -1)
      (should-not (memq #'jank-hotpatch--remove-results after-change-functions))
      (should (equal (overlays-in (point-min) (point-max)) nil)))))

(ert-deftest jank-hotpatch-test-keys-and-form-position ()
  (with-temp-buffer
    (insert "(ns demo.core)\n\n(defn f []\n  (+ 1 2))\n\n(defn g [] 2)\n")
    (jank-hotpatch-mode)
    (should (eq (key-binding (kbd "C-c C-c")) #'jank-hotpatch-form))
    (should (eq (key-binding (kbd "C-M-x")) #'jank-hotpatch-form))
    (should (eq (key-binding (kbd "C-c C-k")) #'jank-hotpatch-file))
    (let ((defn-f (progn (goto-char (point-min)) (search-forward "(defn f")
                         (match-beginning 0))))
      ;; Inside a form: point itself (the sidecar finds the top-level form).
      (search-forward "(+ 1")
      (should (= (jank-hotpatch--form-position) (point)))
      ;; Right after a top-level form: that form.
      (search-forward "2))")
      (should (= (jank-hotpatch--form-position) defn-f)))))

(ert-deftest jank-hotpatch-test-plists-from-lsp-mode-json ()
  (let ((table (make-hash-table :test #'equal))
        (range (make-hash-table :test #'equal)))
    (puthash "line" 3 range)
    (puthash "ok" t table)
    (puthash "forms" (vector range) table)
    (should (equal (jank-hotpatch--plist table) '(:ok t :forms [(:line 3)])))))

(ert-deftest jank-hotpatch-test-open-app-opens-the-url-of-the-sidecar ()
  (let* ((dir (make-temp-file "jank-hotpatch-app-url-" t))
         (default-directory (file-name-as-directory dir))
         (opened nil))
    (unwind-protect
        (with-temp-buffer
          (jank-hotpatch-mode)
          (cl-letf (((symbol-function 'browse-url) (lambda (url &rest _) (setq opened url))))
            (jank-hotpatch-test--connected `((,(current-buffer) ,(list 'server) "file:///x"))
              (should-error (jank-hotpatch-open-app) :type 'user-error)
              ;; Before any jank/serverStatus: the file the sidecar writes.
              (make-directory ".jank-hotpatch")
              (with-temp-file ".jank-hotpatch/app-url"
                (insert "http://127.0.0.1:7888/?token=file\n"))
              (jank-hotpatch-open-app)
              (should (equal opened "http://127.0.0.1:7888/?token=file"))
              (jank-hotpatch--handle-server-status
               '(:health "ok" :busy :json-false :message "ready"
                 :appUrl "http://127.0.0.1:7889/?token=status")
               (car (jank-hotpatch--connections)))
              (jank-hotpatch-open-app)
              (should (equal opened "http://127.0.0.1:7889/?token=status")))))
      (delete-directory dir t))))

;;; End to end: eglot, the sidecar, the stand-in jank, headless Chromium

(defvar jank-hotpatch-test--e2e nil
  "The shared end-to-end fixture, a plist; nil until the first e2e test.")

(defun jank-hotpatch-test--program (name)
  "The built program NAME in target/debug, or fail saying how to build it."
  (let ((file (expand-file-name (concat "target/debug/" name) jank-hotpatch-test--root)))
    (unless (file-executable-p file)
      (error "%s is not built: run `cargo build -p %s'" file name))
    file))

(defun jank-hotpatch-test--wait (what predicate &optional seconds)
  "Wait up to SECONDS (default 30) for PREDICATE; fail saying WHAT was awaited."
  (let ((deadline (+ (float-time) (or seconds 30)))
        value)
    (while (not (setq value (funcall predicate)))
      (when (> (float-time) deadline)
        (error "Waited %ss for %s" (or seconds 30) what))
      (accept-process-output nil 0.05))
    value))

(defun jank-hotpatch-test--page (expression)
  "The value of the JavaScript EXPRESSION in the demo page, or nil."
  (with-temp-buffer
    (when (zerop (call-process "python3" nil '(t nil) nil
                               (expand-file-name "tests/emacs/cdp-eval.py"
                                                 jank-hotpatch-test--root)
                               (number-to-string
                                (plist-get jank-hotpatch-test--e2e :devtools-port))
                               expression))
      (goto-char (point-min))
      (json-read))))

(defun jank-hotpatch-test--start-process (name command dir)
  "Start COMMAND named NAME in DIR; its output goes to a buffer named after it."
  (let* ((default-directory (file-name-as-directory dir))
         (stderr (generate-new-buffer (format " *%s stderr*" name)))
         (process (make-process :name name :command command :noquery t
                                :buffer (generate-new-buffer (format " *%s*" name))
                                :stderr stderr)))
    (process-put process :stderr stderr)
    process))

(defun jank-hotpatch-test--output (process)
  "What PROCESS wrote to stdout and stderr."
  (concat (with-current-buffer (process-buffer process) (buffer-string))
          (with-current-buffer (process-get process :stderr) (buffer-string))))

(defun jank-hotpatch-test--stop ()
  "Stop what the fixture started and delete its directories."
  (when-let ((fixture jank-hotpatch-test--e2e))
    (setq jank-hotpatch-test--e2e nil)
    (when-let ((buffer (plist-get fixture :buffer)))
      (when (buffer-live-p buffer)
        (with-current-buffer buffer
          (when-let ((server (eglot-current-server)))
            (ignore-errors (eglot-shutdown server nil 3))))))
    (dolist (key '(:chromium :standin))
      (when-let ((process (plist-get fixture key)))
        (when (process-live-p process)
          ;; SIGTERM lets Chromium take its helper processes down with it.
          (signal-process process 'SIGTERM)
          (let ((deadline (+ (float-time) 5)))
            (while (and (process-live-p process) (< (float-time) deadline))
              (accept-process-output process 0.05)))
          (delete-process process))))
    (dolist (key '(:dir :profile))
      (when-let ((dir (plist-get fixture key)))
        (ignore-errors (delete-directory dir t))))))

(defun jank-hotpatch-test--start ()
  "Prepare the demo workspace, start jank, the sidecar and Chromium."
  (let* ((hotpatch (jank-hotpatch-test--program "jank-hotpatch"))
         (standin (jank-hotpatch-test--program "jank-standin"))
         (tmp (make-temp-file "jank-hotpatch-emacs-" t))
         (dir (expand-file-name "demo" tmp))
         (profile (expand-file-name "chromium" tmp))
         fixture)
    (setq jank-hotpatch-test--e2e (setq fixture (list :dir tmp)))
    (add-hook 'kill-emacs-hook #'jank-hotpatch-test--stop)
    (with-temp-buffer
      (unless (zerop (call-process hotpatch nil t nil "demo" "--prepare" dir))
        (error "`jank-hotpatch demo --prepare' failed: %s" (buffer-string))))
    (plist-put fixture :standin
               (jank-hotpatch-test--start-process "jank-standin" (list standin) dir))
    (jank-hotpatch-test--wait
     "the stand-in jank's .nrepl-port"
     (lambda ()
       (or (file-exists-p (expand-file-name ".nrepl-port" dir))
           (let ((process (plist-get fixture :standin)))
             (unless (process-live-p process)
               (error "The stand-in jank exited: %s"
                      (jank-hotpatch-test--output process)))))))
    ;; The workspace is the project (the sidecar reads jank-hotpatch.toml there).
    (add-hook 'project-find-functions
              (lambda (start) (when (file-in-directory-p start dir)
                                (cons 'transient (file-name-as-directory dir)))))
    (setq jank-hotpatch-server-command (list hotpatch "lsp"))
    (let ((buffer (find-file-noselect (expand-file-name "src/demo/core.jank" dir))))
      (plist-put fixture :buffer buffer)
      (plist-put fixture :text (with-current-buffer buffer (buffer-string)))
      (with-current-buffer buffer
        (should (eq major-mode 'jank-mode))
        (jank-hotpatch-mode 1)
        (eglot-ensure)
        (run-hooks 'post-command-hook)
        (jank-hotpatch-test--wait "eglot to connect" #'eglot-managed-p)
        (let ((url (jank-hotpatch-test--wait "the app's URL" #'jank-hotpatch--app-url)))
          (plist-put fixture :url url)
          (make-directory profile t)
          (plist-put fixture :profile profile)
          (plist-put fixture :chromium
                     (jank-hotpatch-test--start-process
                      "chromium"
                      (list "chromium" "--headless" "--no-sandbox" "--disable-gpu"
                            "--disable-background-networking" "--disable-component-update"
                            "--disable-sync" "--no-first-run"
                            (concat "--user-data-dir=" profile)
                            "--remote-debugging-port=0" url)
                      tmp)))
        (plist-put fixture :devtools-port
                   (string-to-number
                    (jank-hotpatch-test--wait
                     "Chromium's DevTools port"
                     (lambda ()
                       (let ((file (expand-file-name "DevToolsActivePort" profile)))
                         (when (file-exists-p file)
                           (with-temp-buffer
                             (insert-file-contents file)
                             (car (split-string (buffer-string) "\n" t)))))))))
        (jank-hotpatch-test--wait
         "the page to connect to the sidecar"
         (lambda ()
           (let ((now (plist-get (jank-hotpatch--status) :appUrl)))
             ;; A page cannot follow the app server to another address.
             (when (and now (not (equal now (plist-get fixture :url))))
               (error "The sidecar moved the app from %s (opened) to %s"
                      (plist-get fixture :url) now)))
           (eq t (jank-hotpatch-test--page
                  "!!(window.jankHotpatch && window.jankHotpatch.connected)")))
         60)
        ;; Give every var of the demo its code, whatever the page started with.
        (jank-hotpatch-test--patch #'jank-hotpatch-file)
        (jank-hotpatch-test--wait "the page to show the label"
                                  (lambda () (jank-hotpatch-test--label)))))))

(defun jank-hotpatch-test--ensure-started ()
  "Start the fixture for the first e2e test; fail at once if it failed before."
  (if jank-hotpatch-test--e2e
      (when-let ((failure (plist-get jank-hotpatch-test--e2e :failed)))
        (error "The end-to-end setup failed before: %s" failure))
    (condition-case err
        (jank-hotpatch-test--start)
      (error (plist-put jank-hotpatch-test--e2e :failed (error-message-string err))
             (signal (car err) (cdr err))))))

(defun jank-hotpatch-test--label ()
  "The demo page's label text, or nil when it shows none."
  (let ((text (jank-hotpatch-test--page
               "document.getElementById('label').textContent")))
    (and (stringp text) (not (string-empty-p text)) text)))

(defun jank-hotpatch-test--next-report (action)
  "Run ACTION and return the next patch report that reaches this buffer."
  (let ((before jank-hotpatch--report))
    (funcall action)
    (jank-hotpatch-test--wait "a patch report"
                              (lambda () (and (not (eq jank-hotpatch--report before))
                                              (zerop jank-hotpatch--requests)
                                              jank-hotpatch--report))
                              120)))

(defun jank-hotpatch-test--patch (command)
  "Call COMMAND interactively and return the report that follows."
  (jank-hotpatch-test--next-report (lambda () (call-interactively command))))

(defun jank-hotpatch-test--save ()
  "Save the buffer (even unmodified) and return the report of the patch."
  (jank-hotpatch-test--next-report
   (lambda ()
     (set-buffer-modified-p t)
     (save-buffer))))

(defun jank-hotpatch-test--replace (old new)
  "Replace the text OLD with NEW in the buffer; leave point after NEW."
  (goto-char (point-min))
  (unless (search-forward old nil t)
    (error "%S is not in the demo file" old))
  (replace-match new t t))

(defmacro jank-hotpatch-test--in-demo (&rest body)
  "Run BODY in the demo file's buffer, then put the file back as it was."
  (declare (indent 0) (debug t))
  `(progn
     (jank-hotpatch-test--ensure-started)
     (with-current-buffer (plist-get jank-hotpatch-test--e2e :buffer)
       (unwind-protect (progn ,@body)
         (let ((text (plist-get jank-hotpatch-test--e2e :text)))
           (unless (equal (buffer-string) text)
             (erase-buffer)
             (insert text))
           (when (buffer-modified-p)
             (jank-hotpatch-test--save)))))))

(defun jank-hotpatch-test--lighter ()
  "The lighter as the mode line shows it now."
  (substring-no-properties (jank-hotpatch--mode-line)))

(defun jank-hotpatch-test--diagnostic ()
  "Wait for an error diagnostic from flymake; return it."
  (jank-hotpatch-test--wait
   "a flymake diagnostic"
   (lambda ()
     ;; Idle timers never fire in batch: send the edits now.
     (eglot--signal-textDocument/didChange)
     (flymake-start)
     ;; eglot gives errors its own type, `eglot-error'.
     (seq-find (lambda (d) (memq (flymake-diagnostic-type d) '(:error eglot-error)))
               (flymake-diagnostics)))))

(ert-deftest jank-hotpatch-test-e2e-save-patches-the-page ()
  (jank-hotpatch-test--in-demo
    (let* ((lighters '())
           (buffer (current-buffer))
           (watch (lambda (&rest _)
                    (with-current-buffer buffer
                      (push (jank-hotpatch-test--lighter) lighters)))))
      (should (equal (jank-hotpatch-test--label) "clicked 0 times"))
      (jank-hotpatch-test--replace "\"clicked \"" "\"pressed \"")
      (advice-add 'jank-hotpatch--handle-server-status :after watch)
      (let ((report (unwind-protect (jank-hotpatch-test--save)
                      (advice-remove 'jank-hotpatch--handle-server-status watch))))
        (should (eq (plist-get report :ok) t))
        (should (equal (mapcar (lambda (form) (plist-get form :name))
                               (plist-get report :forms))
                       '("label")))
        (should (>= (plist-get report :browsers) 1))
        ;; While the sidecar worked, the lighter said so.
        (should (member " jank[…]" lighters))
        (should (string-match-p "\\` jank\\[[0-9]+ms\\]\\'" (jank-hotpatch-test--lighter)))
        (should (string-match-p "core.jank patched demo.core/label in .* ms | read .* | [0-9]+ browsers?"
                                (jank-hotpatch-test--last-log-line)))
        (should (equal (jank-hotpatch-test--wait
                        "the page to show the new label"
                        (lambda () (let ((label (jank-hotpatch-test--label)))
                                     (and (equal label "pressed 0 times") label)))
                        20)
                       "pressed 0 times"))))))

(ert-deftest jank-hotpatch-test-e2e-compile-error-is-a-diagnostic-on-its-line ()
  (jank-hotpatch-test--in-demo
    (jank-hotpatch-test--replace "(defn speed [] 3)" "(defn speed [] (+ 3 no-such-var))")
    (let ((line (line-number-at-pos))
          (report (jank-hotpatch-test--save)))
      (should (eq (plist-get report :ok) :json-false))
      (should (plist-get report :error))
      (should (equal (jank-hotpatch-test--lighter) " jank[!]"))
      (should (string-match-p "failed at " (jank-hotpatch-test--last-log-line)))
      (should (= (line-number-at-pos
                  (flymake-diagnostic-beg (jank-hotpatch-test--diagnostic)))
                 line)))))

(ert-deftest jank-hotpatch-test-e2e-unbalanced-form-is-a-diagnostic-on-its-line ()
  (jank-hotpatch-test--in-demo
    (goto-char (point-max))
    (insert "\n(defn broken []\n  (+ 1 2)\n")
    (search-backward "(defn broken")
    (should (= (line-number-at-pos (flymake-diagnostic-beg (jank-hotpatch-test--diagnostic)))
               (line-number-at-pos)))))

(ert-deftest jank-hotpatch-test-e2e-form-value-in-an-overlay ()
  (jank-hotpatch-test--in-demo
    (goto-char (point-max))
    (insert "\n(comment\n  (* 6 7))\n")
    (search-backward "(* 6")
    (forward-char 1)
    (let ((report (jank-hotpatch-test--patch (key-binding (kbd "C-c C-c")))))
      (should (eq (plist-get report :ok) t))
      (should (equal (plist-get report :value) "42"))
      (let ((overlays (seq-filter (lambda (o) (eq (overlay-get o 'category)
                                                  'jank-hotpatch-result-overlay))
                                  (overlays-in (point-min) (point-max)))))
        (should (= (length overlays) 1))
        (should (equal (substring-no-properties
                        (overlay-get (car overlays) 'after-string))
                       " => 42"))
        (insert " ")
        (should-not (overlay-buffer (car overlays)))))))

(ert-deftest jank-hotpatch-test-e2e-position-of-a-form-after-non-ascii-text ()
  ;; 20 emoji are 20 characters but 40 UTF-16 code units: a position in
  ;; characters would point into `greet', not `answer'.
  (jank-hotpatch-test--in-demo
    (goto-char (point-max))
    (insert "\n(defn greet [] \"" (make-string 20 #x1F600) "\") (defn answer [] 42)\n")
    (search-backward "(defn answer")
    (forward-char 7)
    (let ((report (jank-hotpatch-test--patch #'jank-hotpatch-form)))
      (should (equal (mapcar (lambda (form) (plist-get form :name))
                             (plist-get report :forms))
                     '("answer"))))))

(ert-deftest jank-hotpatch-test-e2e-save-without-changes-patches-nothing ()
  (jank-hotpatch-test--in-demo
    (jank-hotpatch-test--replace "(defn radius [] 18)" "(defn radius [] 24)")
    (should (eq (plist-get (jank-hotpatch-test--save) :ok) t))
    (let ((report (jank-hotpatch-test--save)))
      (should (eq (plist-get report :ok) t))
      (should (seq-empty-p (plist-get report :forms)))
      (should (stringp (plist-get report :message)))
      (should (equal (jank-hotpatch-test--lighter) " jank[no change]"))
      (should (string-suffix-p (plist-get report :message)
                               (car (split-string (jank-hotpatch-test--last-log-line)
                                                  " | ")))))))

(ert-deftest jank-hotpatch-test-e2e-lsp-mode-gets-reports-too ()
  ;; In its own Emacs, so that lsp-mode stays out of the eglot tests.
  (skip-unless (locate-library "lsp-mode"))
  (let* ((tmp (make-temp-file "jank-hotpatch-lsp-mode-" t))
         (dir (expand-file-name "demo" tmp))
         (hotpatch (jank-hotpatch-test--program "jank-hotpatch")))
    (unwind-protect
        (progn
          (with-temp-buffer
            (unless (zerop (call-process hotpatch nil t nil "demo" "--prepare" dir))
              (error "`jank-hotpatch demo --prepare' failed: %s" (buffer-string))))
          (let ((result
                 (jank-hotpatch-test--emacs
                  "--eval"
                  (format
                   "%S"
                   `(progn
                      (require 'jank-hotpatch)
                      (require 'lsp-mode)
                      (setq lsp-session-file ,(expand-file-name "lsp-session" tmp)
                            lsp-enable-snippet nil
                            lsp-restart 'ignore
                            jank-hotpatch-server-command (list ,hotpatch "lsp"))
                      (lsp-workspace-folders-add ,dir)
                      (with-current-buffer
                          (find-file-noselect ,(expand-file-name "src/demo/core.jank" dir))
                        (jank-hotpatch-mode 1)
                        (lsp)
                        (goto-char (point-min))
                        (search-forward "(defn spe")
                        (let ((deadline (+ (float-time) 30)))
                          (while (and (< (float-time) deadline)
                                      (not (jank-hotpatch--status)))
                            (accept-process-output nil 0.05))
                          (jank-hotpatch-form)
                          (while (and (< (float-time) deadline)
                                      (not (and jank-hotpatch--report
                                                (zerop jank-hotpatch--requests))))
                            (accept-process-output nil 0.05)))
                        (prin1 (list :status (and (jank-hotpatch--status) t)
                                     :uri (equal (plist-get jank-hotpatch--report :uri)
                                                 (lsp--buffer-uri))
                                     :lighter (substring-no-properties
                                               (jank-hotpatch--mode-line))))
                        (lsp-workspace-shutdown (car (lsp-workspaces))))
                      (kill-emacs 0))))))
            (should (equal (car result) 0))
            (should (string-match-p
                     "(:status t :uri t :lighter \" jank\\[[^]]+\\]\")"
                     (cdr result)))))
      (delete-directory tmp t))))

(provide 'jank-hotpatch-tests)
;;; jank-hotpatch-tests.el ends here
