;;; jank-hotpatch-tests.el --- Tests of jank-hotpatch.el  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run with tests/emacs/run.sh [SELECTOR] (ERT in `emacs --batch').
;;
;; Three layers:
;; - the package itself: byte-compiles with warnings as errors, checkdoc
;;   has nothing to say, lsp-mode registration (in a separate Emacs);
;; - unit tests of the pure parts: lighter, log line, overlays,
;;   initializationOptions, registration, positions, the minor mode's hooks;
;; - end to end (tests named `jank-hotpatch-test-e2e-...'): the mode's own
;;   connection to the real sidecar (target/debug/jank-hotpatch) in a demo
;;   workspace (`jank-hotpatch demo --prepare') while another real language
;;   server (pylsp, standing where clojure-lsp would) holds the buffer's
;;   eglot connection, the stand-in jank (target/debug/jank-standin) and a
;;   real headless Chromium showing the demo page.  The page's DOM is read
;;   through the DevTools protocol by tests/emacs/cdp-eval.py (Python
;;   standard library only: node 20 has no built-in WebSocket).  They share
;;   one workspace, sidecar and browser, started by the first of them; each
;;   puts the demo file back as it was.  The sidecar as eglot's server and
;;   as a lsp-mode add-on are each tried in an Emacs of their own, with a
;;   workspace, stand-in jank and Chromium of their own.
;;
;; Everything these tests use is installed by scripts/setup.sh test: a
;; missing piece is a failure, never a skipped test.

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

(defconst jank-hotpatch-test--packages
  (mapcar (lambda (file) (expand-file-name file jank-hotpatch-test--root))
          '("emacs/jank-hotpatch.el" "emacs/jank-hotpatch-connection.el"
            "emacs/jank-hotpatch-protocol.el" "emacs/jank-hotpatch-jank-mode.el"))
  "The files of the package.")

(defconst jank-hotpatch-test--report
  '(:ok t :uri "file:///tmp/w/src/demo/core.jank"
    :forms [(:ns "demo.core" :name "speed"
             :range (:start (:line 6 :character 0) :end (:line 6 :character 17)))]
    :stages (:readMs 0.21 :compileMs 31.4 :buildMs 40.2 :checkMs 0.8
             :deliverMs 2.5 :loadMs 0.7)
    :totalMs 84.4 :pages 2
    :summary "patched demo.core/speed in 84 ms → 2 page(s)")
  "A patch report as the sidecar sends it (JSON parsed by jsonrpc).")

(defconst jank-hotpatch-test--failure
  '(:ok :json-false :uri "file:///tmp/w/src/demo/core.jank"
    :forms [(:ns "demo.core" :name "speed"
             :range (:start (:line 6 :character 0) :end (:line 6 :character 17)))]
    :stages (:readMs 0.2 :compileMs 12 :buildMs 0 :checkMs 0
             :deliverMs 0 :loadMs 0)
    :totalMs 12.3 :pages 1
    :error (:stage "compile" :message "unable to resolve symbol: nope")
    :summary "compile failed: unable to resolve symbol: nope"))

(defconst jank-hotpatch-test--unchanged
  '(:ok t :uri "file:///tmp/w/src/demo/core.jank" :forms []
    :stages (:readMs 0.1 :compileMs 0 :buildMs 0 :checkMs 0
             :deliverMs 0 :loadMs 0)
    :totalMs 0.3 :pages 1
    :message "nothing changed since the last patch"
    :summary "nothing changed since the last patch"))

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
  "The last report line of the log buffer (not what the page printed)."
  (with-current-buffer jank-hotpatch-log-buffer
    (car (last (seq-remove (lambda (line) (string-prefix-p "  " line))
                           (split-string (buffer-string) "\n" t))))))

;;; The package itself

(ert-deftest jank-hotpatch-test-byte-compiles-without-warnings ()
  (dolist (file jank-hotpatch-test--packages)
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
                            (kill-emacs (if (byte-compile-file ,file) 0 1)))))
              (delete-directory dir t))))
      (should (equal (list file result) (list file (cons 0 (cdr result)))))
      (should-not (string-match-p "Warning\\|Error" (cdr result))))))

(ert-deftest jank-hotpatch-test-checkdoc-has-nothing-to-say ()
  (let* ((complaints '())
         (collect (lambda (point message)
                    (push (format "%s line %d: %s" (buffer-name)
                                  (line-number-at-pos point) message)
                          complaints))))
    (advice-add 'checkdoc-error :before collect)
    (unwind-protect
        (let ((inhibit-message t))
          (mapc #'checkdoc-file jank-hotpatch-test--packages))
      (advice-remove 'checkdoc-error collect)
      (dolist (file jank-hotpatch-test--packages)
        (when-let ((buffer (get-file-buffer file)))
          (kill-buffer buffer))))
    (should (equal (reverse complaints) '()))))

(defconst jank-hotpatch-test--package-lint-stale
  "This makes the package uninstallable in all released Emacs versions."
  "What Debian 12's package-lint (0.16) says of (emacs \"28.1\"), wrongly.
It predates Emacs 28.1's release and takes 28 for unreleased; later
versions of package-lint take 29 and up.")

(ert-deftest jank-hotpatch-test-package-lint-has-nothing-to-say ()
  ;; As MELPA runs it, in an Emacs of its own: every file, with the main
  ;; file known.  Offline, package.el's archives are empty: the packages it
  ;; could install are taken to be those installed here (elpa-eglot 1.9),
  ;; the versions a Debian 12 user gets.
  (jank-hotpatch-test--require-installed "package-lint")
  (let ((result
         (jank-hotpatch-test--emacs
          "--eval"
          (format "%S"
                  `(progn
                     (require 'package-lint)
                     (package-initialize)
                     (setq package-archive-contents package-alist)
                     (let ((package-lint-main-file ,(car jank-hotpatch-test--packages))
                           (problems '()))
                       (dolist (file ',jank-hotpatch-test--packages)
                         (with-temp-buffer
                           (insert-file-contents file t)
                           (emacs-lisp-mode)
                           (dolist (problem (package-lint-buffer))
                             (unless (equal (nth 3 problem)
                                            ,jank-hotpatch-test--package-lint-stale)
                               (push (cons (file-name-nondirectory file) problem)
                                     problems)))))
                       (prin1 (list 'PROBLEMS (reverse problems)))))))))
    (should (equal (car result) 0))
    (should (string-match "(PROBLEMS \\(.*\\))\\'" (cdr result)))
    (should (equal (read (match-string 1 (cdr result))) nil))))

(defun jank-hotpatch-test--require-installed (library)
  "Fail unless LIBRARY is installed (scripts/setup.sh test installs it)."
  (unless (locate-library library)
    (ert-fail (format "%s is not installed: run scripts/setup.sh test" library))))

(ert-deftest jank-hotpatch-test-registers-with-lsp-mode-as-an-add-on ()
  (jank-hotpatch-test--require-installed "lsp-mode")
  (let ((result
         (jank-hotpatch-test--emacs
          "--eval"
          (format "%S"
                  '(progn
                     (require 'subr-x)
                     (require 'jank-hotpatch)
                     ;; Choosing lsp-mode loads it and registers the sidecar.
                     (customize-set-variable 'jank-hotpatch-client 'lsp-mode)
                     (let* ((client (gethash 'jank-hotpatch lsp-clients))
                            (activates
                             (lambda (client-option file mode)
                               (let ((jank-hotpatch-client client-option))
                                 (and (funcall (lsp--client-activation-fn client)
                                               file mode)
                                      t)))))
                       (prin1 (list (and client t)
                                    (sort (hash-table-keys
                                           (lsp--client-notification-handlers
                                            client))
                                          #'string<)
                                    (mapcar (lambda (mode)
                                              (cdr (assq mode lsp-language-id-configuration)))
                                            '(jank-mode jank-hotpatch-jank-mode))
                                    :add-on (lsp--client-add-on? client)
                                    ;; Only when asked for; any .jank file.
                                    (funcall activates 'lsp-mode "x.jank" 'jank-mode)
                                    (funcall activates 'lsp-mode "x.jank" 'clojure-mode)
                                    (funcall activates 'lsp-mode "x.clj" 'clojure-mode)
                                    (funcall activates 'own "x.jank" 'jank-mode)
                                    (funcall activates 'eglot "x.jank" 'jank-mode)))))))))
    (should (equal (car result) 0))
    (should (string-suffix-p
             (concat "(t (\"jank/patchStatus\" \"jank/serverStatus\")"
                     " (\"jank\" \"jank\") :add-on t t t nil nil nil)")
             (cdr result)))))

;;; Registration and settings

(ert-deftest jank-hotpatch-test-jank-files-open-in-a-jank-mode-that-runs-jank-mode-hook ()
  ;; No package here defines `jank-mode' (clojure-mode 5.20 would): the
  ;; package's own mode opens .jank files and runs `jank-mode-hook'.
  (should-not (fboundp 'jank-mode))
  (let* ((ran nil)
         (note (lambda () (setq ran major-mode))))
    ;; As README's configuration does it.
    (add-hook 'jank-mode-hook note)
    (unwind-protect
        (with-temp-buffer
          (setq buffer-file-name "/tmp/w/src/demo/core.jank")
          (set-auto-mode)
          (should (eq major-mode 'jank-hotpatch-jank-mode))
          (should (eq ran 'jank-hotpatch-jank-mode))
          (should (derived-mode-p (if (featurep 'clojure-mode) 'clojure-mode 'lisp-data-mode)))
          (setq buffer-file-name nil))
      (remove-hook 'jank-mode-hook note))))

(ert-deftest jank-hotpatch-test-jank-files-open-in-jank-mode-where-it-exists ()
  ;; As with clojure-mode 5.20 and later, which defines `jank-mode'.
  (cl-letf (((symbol-function 'jank-mode)
             (lambda () (setq major-mode 'jank-mode))))
    (with-temp-buffer
      (setq buffer-file-name "/tmp/w/src/demo/core.jank")
      (set-auto-mode)
      (should (eq major-mode 'jank-mode))
      (setq buffer-file-name nil))))

(ert-deftest jank-hotpatch-test-eglot-registration-only-when-asked ()
  (let ((eglot-server-programs (cons '(jank-mode . ("clojure-lsp"))
                                     eglot-server-programs))
        (jank-hotpatch-client jank-hotpatch-client)
        (ours '((jank-mode jank-hotpatch-jank-mode) . jank-hotpatch-eglot-contact)))
    ;; By default eglot runs whatever server the user has for jank-mode.
    (should (eq jank-hotpatch-client 'own))
    (should (equal (assq 'jank-mode eglot-server-programs)
                   '(jank-mode . ("clojure-lsp"))))
    (customize-set-variable 'jank-hotpatch-client 'eglot)
    ;; First, for both major modes of jank files.
    (should (equal (car eglot-server-programs) ours))
    (customize-set-variable 'jank-hotpatch-client 'eglot)
    (should (= (cl-count 'jank-hotpatch-eglot-contact eglot-server-programs :key #'cdr)
               1))
    (customize-set-variable 'jank-hotpatch-client 'own)
    ;; Gone again, and the user's own entry is still there.
    (should-not (rassq 'jank-hotpatch-eglot-contact eglot-server-programs))
    (should (equal (assq 'jank-mode eglot-server-programs)
                   '(jank-mode . ("clojure-lsp"))))))

(ert-deftest jank-hotpatch-test-eglot-starts-the-sidecar-with-options ()
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
    (should (equal (jank-hotpatch--lighter-text report '(:runtimeErrors 1) nil)
                   " jank[84ms ✗rt]"))
    (should (equal (jank-hotpatch--lighter-text nil '(:runtimeErrors 2) nil) " jank[✗rt]"))
    (should (eq (jank-hotpatch--lighter-face report '(:runtimeErrors 1)) 'error))
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
       '(:health "ok" :busy :json-false :message "ready" :pages 2)
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
                       (concat "jank-hotpatch: patched demo.core/speed in 84 ms → 2 page(s)\n"
                               "read 0.2 · compile 31 · build 40 · check 0.8 · "
                               "deliver 2.5 · load 0.7 ms\n"
                               "2 pages\nsidecar: ready\n"
                               "mouse-1: show the log of patches")))
        (should (eq (lookup-key (get-text-property 1 'local-map lighter)
                                [mode-line mouse-1])
                    #'jank-hotpatch-show-log)))
      (setq jank-hotpatch--report jank-hotpatch-test--failure)
      (should (eq (get-text-property 1 'face (jank-hotpatch--mode-line))
                  'error)))))

(ert-deftest jank-hotpatch-test-warns-of-a-sidecar-of-another-version ()
  (should-not (jank-hotpatch--version-mismatch "/bin/jank-hotpatch"
                                               jank-hotpatch-protocol-version))
  (should (equal (jank-hotpatch--version-mismatch "/bin/jank-hotpatch" "9.9.9")
                 (format (concat "The sidecar /bin/jank-hotpatch is version 9.9.9,"
                                 " this package %s: some features may not work."
                                 "  Install the same version of both, or set"
                                 " `jank-hotpatch-server-command'")
                         jank-hotpatch-protocol-version)))
  (should (string-match-p "is of no stated version"
                          (jank-hotpatch--version-mismatch "/bin/jank-hotpatch" nil))))

(ert-deftest jank-hotpatch-test-log-lines ()
  (let ((time (encode-time '(4 3 12 1 1 2026 nil nil nil))))
    (should (equal (jank-hotpatch--log-line jank-hotpatch-test--report time)
                   (concat "12:03:04 core.jank patched demo.core/speed in 84 ms → 2 page(s)"
                           " | read 0.2 · compile 31 · build 40 · check 0.8 ·"
                           " deliver 2.5 · load 0.7 ms | 2 pages")))
    (should (equal (jank-hotpatch--log-line jank-hotpatch-test--failure time)
                   (concat "12:03:04 core.jank compile failed: unable to resolve"
                           " symbol: nope | read 0.2 · compile 12 · build 0.0 ·"
                           " check 0.0 · deliver 0.0 · load 0.0 ms | 1 page")))
    (should (string-prefix-p
             "12:03:04 core.jank nothing changed since the last patch | "
             (jank-hotpatch--log-line jank-hotpatch-test--unchanged time)))
    (should (equal (jank-hotpatch--log-line
                    (list :ok t :uri "file:///tmp/w/x.jank" :totalMs 3.25
                          :value "42"
                          :forms [(:ns "demo.core" :name nil)]
                          :summary "patched an expression in 3 ms → 1 page(s)")
                    time)
                   "12:03:04 x.jank patched an expression in 3 ms → 1 page(s) => 42"))))

(ert-deftest jank-hotpatch-test-log-versions-output-and-warnings ()
  (let ((time (encode-time '(4 3 12 1 1 2026 nil nil nil)))
        (undone (list :ok t :uri "file:///tmp/w/x.jank" :undo t
                      :forms [(:ns "demo.core" :name "speed")]
                      :versions [(:ns "demo.core" :name "speed" :version 2)
                                 (:ns "demo.core" :name "label" :version 1)]
                      :output ["hello from the page" "bye"]
                      :warnings ["load hook demo.core/reloaded threw in page 1: boom"]
                      :summary "undid demo.core/speed → version 2 in 3 ms → 1 page(s)")))
    (should (equal (jank-hotpatch--log-line undone time)
                   (concat "12:03:04 x.jank undid demo.core/speed → version 2 in 3 ms"
                           " → 1 page(s) | demo.core/speed v2, demo.core/label v1")))
    (jank-hotpatch--log-report undone)
    (with-current-buffer jank-hotpatch-log-buffer
      (should (equal (last (split-string (buffer-string) "\n" t) 4)
                     (list (jank-hotpatch--log-line undone)
                           "  > hello from the page"
                           "  > bye"
                           "  warning: load hook demo.core/reloaded threw in page 1: boom"))))))

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
    (should (eq (key-binding (kbd "C-c C-u")) #'jank-hotpatch-undo))
    (let ((defn-f (progn (goto-char (point-min)) (search-forward "(defn f")
                         (match-beginning 0))))
      ;; Inside a form: point itself (the sidecar finds the top-level form).
      (search-forward "(+ 1")
      (should (= (jank-hotpatch--form-position) (point)))
      ;; Right after a top-level form: that form.
      (search-forward "2))")
      (should (= (jank-hotpatch--form-position) defn-f)))))

(ert-deftest jank-hotpatch-test-positions-in-utf-16 ()
  (with-temp-buffer
    ;; An emoji is one character and two UTF-16 code units.
    (insert "(ns a)\n(def s \"\U0001F600\") (defn f [] 1)\n")
    (let ((f (progn (goto-char (point-min)) (search-forward "(defn") (match-beginning 0))))
      (should (equal (jank-hotpatch-connection-position f) '(:line 1 :character 13)))
      (should (= (jank-hotpatch-connection-point '(:line 1 :character 13)) f))
      ;; Past the end of its line: the end of the line.
      (should (= (jank-hotpatch-connection-point '(:line 0 :character 99))
                 (progn (goto-char (point-min)) (line-end-position)))))))

(ert-deftest jank-hotpatch-test-mode-without-a-file-starts-no-sidecar ()
  (with-temp-buffer
    (jank-hotpatch-mode 1)
    (should (eq jank-hotpatch--buffer-client 'own))
    (should-not jank-hotpatch-connection--current)
    (should-not (jank-hotpatch--status))
    (should (equal (jank-hotpatch--mode-line) " jank"))
    (should (equal (cadr (should-error (jank-hotpatch-form) :type 'user-error))
                   "jank-hotpatch needs a buffer visiting a .jank file"))))

(ert-deftest jank-hotpatch-test-a-sidecar-that-does-not-start-is-shown ()
  (let* ((dir (make-temp-file "jank-hotpatch-no-sidecar-" t))
         (file (expand-file-name "core.jank" dir))
         (jank-hotpatch-server-command (list (expand-file-name "no-such-sidecar" dir) "lsp"))
         (inhibit-message t))
    (unwind-protect
        (with-current-buffer (find-file-noselect file)
          (unwind-protect
              (progn
                (jank-hotpatch-mode 1)
                (should-not (jank-hotpatch-connection-live))
                (should (equal (jank-hotpatch--lighter-text
                                nil (jank-hotpatch--status) nil)
                               " jank[!]"))
                (should (string-match-p
                         "\\`The sidecar (.*/no-such-sidecar lsp) did not start: .*; M-x jank-hotpatch-reconnect tries again\\'"
                         (plist-get (jank-hotpatch--status) :message)))
                (should (equal (cadr (should-error (jank-hotpatch-file) :type 'user-error))
                               (plist-get (jank-hotpatch--status) :message))))
            (jank-hotpatch-mode -1)
            (kill-buffer)))
      (delete-directory dir t))))

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
              ;; With `jank-hotpatch-cache-dir': the sidecar is told (cacheDir), and the
              ;; file is read where it writes it then.
              (make-directory "build/jh" t)
              (with-temp-file "build/jh/app-url"
                (insert "http://127.0.0.1:7890/?token=cache\n"))
              (let ((jank-hotpatch-cache-dir "build/jh"))
                (should (equal (plist-get (jank-hotpatch-initialization-options) :cacheDir)
                               "build/jh"))
                (jank-hotpatch-open-app))
              (should (equal opened "http://127.0.0.1:7890/?token=cache"))
              (jank-hotpatch--handle-server-status
               '(:health "ok" :busy :json-false :message "ready"
                 :appUrl "http://127.0.0.1:7889/?token=status")
               (car (jank-hotpatch--connections)))
              (jank-hotpatch-open-app)
              (should (equal opened "http://127.0.0.1:7889/?token=status")))))
      (delete-directory dir t))))

;;; End to end: the sidecar beside pylsp in eglot, the stand-in jank, headless Chromium

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

(defun jank-hotpatch-test--page (expression &optional devtools-port)
  "The value of the JavaScript EXPRESSION in the demo page, or nil.
The page is the one of the Chromium on DEVTOOLS-PORT, by default the
shared fixture's."
  (with-temp-buffer
    (when (zerop (call-process "python3" nil '(t nil) nil
                               (expand-file-name "tests/emacs/cdp-eval.py"
                                                 jank-hotpatch-test--root)
                               (number-to-string
                                (or devtools-port
                                    (plist-get jank-hotpatch-test--e2e :devtools-port)))
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

(defun jank-hotpatch-test--stop-process (process)
  "Stop PROCESS with SIGTERM (Chromium then takes its helpers down), then delete it."
  (when (process-live-p process)
    (signal-process process 'SIGTERM)
    (let ((deadline (+ (float-time) 5)))
      (while (and (process-live-p process) (< (float-time) deadline))
        (accept-process-output process 0.05))))
  (delete-process process))

(defun jank-hotpatch-test--prepare-demo (dir)
  "Write the demo workspace into DIR and start the stand-in jank there.
Return the stand-in's process."
  (with-temp-buffer
    (unless (zerop (call-process (jank-hotpatch-test--program "jank-hotpatch")
                                 nil t nil "demo" "--prepare" dir))
      (error "`jank-hotpatch demo --prepare' failed: %s" (buffer-string))))
  (let ((standin (jank-hotpatch-test--start-process
                  "jank-standin" (list (jank-hotpatch-test--program "jank-standin"))
                  dir)))
    (jank-hotpatch-test--wait
     "the stand-in jank's .nrepl-port"
     (lambda ()
       (or (file-exists-p (expand-file-name ".nrepl-port" dir))
           (unless (process-live-p standin)
             (error "The stand-in jank exited: %s" (jank-hotpatch-test--output standin))))))
    standin))

(defun jank-hotpatch-test--start-chromium (url profile)
  "Open URL in a headless Chromium with the fresh PROFILE directory.
Return its process and DevTools port, a cons."
  (make-directory profile t)
  (let* ((process-environment
          ;; Its own temporary dirs (the process singleton's) go with the profile.
          (cons (concat "TMPDIR=" profile) process-environment))
         (chromium (jank-hotpatch-test--start-process
                   "chromium"
                   (list "chromium" "--headless" "--no-sandbox" "--disable-gpu"
                         "--disable-background-networking" "--disable-component-update"
                         "--disable-sync" "--no-first-run"
                         (concat "--user-data-dir=" profile)
                         "--remote-debugging-port=0" url)
                   profile)))
    (cons chromium
          (string-to-number
           (jank-hotpatch-test--wait
            "Chromium's DevTools port"
            (lambda ()
              (let ((file (expand-file-name "DevToolsActivePort" profile)))
                (when (file-exists-p file)
                  (with-temp-buffer
                    (insert-file-contents file)
                    (car (split-string (buffer-string) "\n" t)))))))))))

(defun jank-hotpatch-test--stop ()
  "Stop what the fixture started and delete its directories."
  (when-let ((fixture jank-hotpatch-test--e2e))
    (setq jank-hotpatch-test--e2e nil)
    (when-let ((buffer (plist-get fixture :buffer)))
      (when (buffer-live-p buffer)
        (with-current-buffer buffer
          ;; The last buffer of the sidecar: it shuts down.
          (jank-hotpatch-mode -1)
          (when-let ((server (eglot-current-server)))
            (ignore-errors (eglot-shutdown server nil 3))))))
    (dolist (key '(:chromium :standin))
      (when-let ((process (plist-get fixture key)))
        (jank-hotpatch-test--stop-process process)))
    (jank-hotpatch-test--delete-directory (plist-get fixture :dir))))

(defun jank-hotpatch-test--delete-directory (dir)
  "Delete DIR and everything in it, once nothing writes there any more.
Chromium's helper processes may write its profile for a moment after
Chromium itself exited, so a removal that fails is tried again until it
succeeds, for up to 10 s; then DIR is left, quietly: a failed removal
must not hide how the test went."
  (let ((deadline (+ (float-time) 10)))
    (while (and (file-exists-p dir)
                (not (ignore-errors (delete-directory dir t) t))
                (< (float-time) deadline))
      (accept-process-output nil 0.05))))

(defun jank-hotpatch-test--project-at (dir)
  "Make DIR the project of the files under it, as a version-controlled one would be."
  (add-hook 'project-find-functions
            (lambda (start) (when (file-in-directory-p start dir)
                              (cons 'transient (file-name-as-directory dir))))))

(defun jank-hotpatch-test--start ()
  "Prepare the demo workspace, start jank, pylsp, the sidecar and Chromium."
  (let* ((tmp (make-temp-file "jank-hotpatch-emacs-" t))
         (dir (expand-file-name "demo" tmp))
         fixture)
    (setq jank-hotpatch-test--e2e (setq fixture (list :dir tmp)))
    (add-hook 'kill-emacs-hook #'jank-hotpatch-test--stop)
    (unless (executable-find "pylsp")
      (ert-fail "pylsp is not installed: run scripts/setup.sh test"))
    (plist-put fixture :standin (jank-hotpatch-test--prepare-demo dir))
    (jank-hotpatch-test--project-at dir)
    ;; pylsp stands where clojure-lsp would: the buffer's one eglot server.
    (add-to-list 'eglot-server-programs '((jank-mode jank-hotpatch-jank-mode) . ("pylsp")))
    (setq jank-hotpatch-server-command
          (list (jank-hotpatch-test--program "jank-hotpatch") "lsp"))
    (let ((buffer (find-file-noselect (expand-file-name "src/demo/core.jank" dir))))
      (plist-put fixture :buffer buffer)
      (plist-put fixture :text (with-current-buffer buffer (buffer-string)))
      (with-current-buffer buffer
        (should (eq major-mode 'jank-hotpatch-jank-mode))
        (jank-hotpatch-mode 1)
        (eglot-ensure)
        (run-hooks 'post-command-hook)
        (jank-hotpatch-test--wait "eglot to connect to pylsp" #'eglot-managed-p)
        (let ((server (eglot-current-server)))
          (plist-put fixture :eglot server)
          (plist-put fixture :eglot-process (jsonrpc--process server))
          (plist-put fixture :eglot-pid (process-id (jsonrpc--process server))))
        (let* ((url (jank-hotpatch-test--wait "the app's URL" #'jank-hotpatch--app-url))
               (chromium (jank-hotpatch-test--start-chromium
                          url (expand-file-name "chromium" tmp))))
          (plist-put fixture :url url)
          (plist-put fixture :chromium (car chromium))
          (plist-put fixture :devtools-port (cdr chromium)))
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

(defun jank-hotpatch-test--label (&optional devtools-port)
  "The demo page's label text, or nil when it shows none.
The page is the one of the Chromium on DEVTOOLS-PORT, by default the
shared fixture's."
  (let ((text (jank-hotpatch-test--page
               "document.getElementById('label').textContent" devtools-port)))
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

(defun jank-hotpatch-test--wait-idle ()
  "Wait until the sidecar says it is idle.
A report may come before the status that says so."
  (jank-hotpatch-test--wait "the sidecar to be idle"
                            (lambda () (not (jank-hotpatch--busy-p
                                             (jank-hotpatch--status) 0)))))

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

(defun jank-hotpatch-test--diagnostics ()
  "The sidecar's error diagnostics in flymake now.
pylsp, the buffer's eglot server, has its own (Python's view of jank)."
  ;; Idle timers never fire in batch: send the edits now.
  (jank-hotpatch-connection-send-changes)
  (flymake-start)
  (seq-filter (lambda (d) (and (eq (flymake-diagnostic-backend d)
                                   #'jank-hotpatch-connection-flymake)
                               (eq (flymake-diagnostic-type d) :error)))
              (flymake-diagnostics)))

(defun jank-hotpatch-test--diagnostic ()
  "Wait for an error diagnostic of the sidecar in flymake; return it."
  (jank-hotpatch-test--wait "a flymake diagnostic from the sidecar"
                            (lambda () (car (jank-hotpatch-test--diagnostics)))))

(defun jank-hotpatch-test--runtime-diagnostic ()
  "The sidecar's diagnostic of an error thrown in the page, or nil."
  (seq-find (lambda (d) (string-prefix-p
                         (concat jank-hotpatch-protocol-runtime-source ": ")
                         (flymake-diagnostic-text d)))
            (jank-hotpatch-test--diagnostics)))

(defun jank-hotpatch-test--result-overlays ()
  "The overlays that show values after forms in this buffer."
  (seq-filter (lambda (o) (eq (overlay-get o 'category) 'jank-hotpatch-result-overlay))
              (overlays-in (point-min) (point-max))))

(ert-deftest jank-hotpatch-test-e2e-beside-another-eglot-server ()
  (jank-hotpatch-test--in-demo
    (let* ((server (plist-get jank-hotpatch-test--e2e :eglot))
           (process (plist-get jank-hotpatch-test--e2e :eglot-process)))
      ;; The buffer's eglot server is pylsp, not the sidecar.
      (should (eq (eglot-current-server) server))
      (should (equal (plist-get (eglot--server-info server) :name) "pylsp"))
      ;; Saving patches the page.
      (jank-hotpatch-test--replace "\"clicked \"" "\"tapped \"")
      (should (eq (plist-get (jank-hotpatch-test--save) :ok) t))
      (should (equal (jank-hotpatch-test--wait
                      "the page to show the new label"
                      (lambda () (let ((label (jank-hotpatch-test--label)))
                                   (and (equal label "tapped 0 times") label)))
                      20)
                     "tapped 0 times"))
      ;; C-c C-c shows the value after the form.
      (goto-char (point-max))
      (insert "\n(comment\n  (* 7 6))\n")
      (search-backward "(* 7")
      (let ((report (jank-hotpatch-test--patch (key-binding (kbd "C-c C-c")))))
        (should (equal (plist-get report :value) "42"))
        (should (equal (mapcar (lambda (o) (substring-no-properties
                                            (overlay-get o 'after-string)))
                               (jank-hotpatch-test--result-overlays))
                       '(" => 42"))))
      ;; pylsp's connection is untouched: the same live process, still
      ;; managing the buffer, and it never saw a jank-hotpatch command.
      (should (eq (eglot-current-server) server))
      (should (eq (jsonrpc--process server) process))
      (should (process-live-p process))
      (should (= (process-id process) (plist-get jank-hotpatch-test--e2e :eglot-pid)))
      (should (memq (current-buffer) (eglot--managed-buffers server)))
      (should-not (with-current-buffer (jsonrpc-events-buffer server)
                    (save-excursion
                      (goto-char (point-min))
                      (search-forward "jank.hotPatch" nil t))))
      ;; Both servers' diagnostics go to flymake.
      (should (memq #'eglot-flymake-backend flymake-diagnostic-functions))
      (should (memq #'jank-hotpatch-connection-flymake flymake-diagnostic-functions)))))

(ert-deftest jank-hotpatch-test-e2e-buffers-share-the-sidecar-and-hooks-stay-local ()
  (jank-hotpatch-test--ensure-started)
  (let* ((first (plist-get jank-hotpatch-test--e2e :buffer))
         (connection (buffer-local-value 'jank-hotpatch-connection--current first))
         (file (expand-file-name "other.jank" (file-name-directory (buffer-file-name first))))
         (hooks '(after-change-functions after-save-hook kill-buffer-hook
                  change-major-mode-hook flymake-diagnostic-functions
                  eglot-managed-mode-hook))
         (globals (mapcar #'default-value hooks))
         (buffer (progn (write-region "(ns demo.other)\n\n(defn x [] 1)\n" nil file)
                        (find-file-noselect file))))
    (unwind-protect
        (with-current-buffer buffer
          (jank-hotpatch-mode 1)
          ;; The workspace's one sidecar, now following both buffers.
          (should (eq jank-hotpatch-connection--current connection))
          (should (equal (sort (mapcar #'buffer-name
                                       (jank-hotpatch-connection--buffers connection))
                               #'string<)
                         (sort (list (buffer-name first) (buffer-name)) #'string<)))
          ;; This buffer's text reaches it: a diagnostic of its own.
          (goto-char (point-max))
          (insert "(defn broken [\n")
          (should (= (line-number-at-pos
                      (flymake-diagnostic-beg (jank-hotpatch-test--diagnostic)))
                     (1- (line-number-at-pos))))
          ;; Hooks are this buffer's only.
          (should (memq #'jank-hotpatch-connection--changed after-change-functions))
          (should (memq #'jank-hotpatch-connection--saved after-save-hook))
          (should (equal (mapcar #'default-value hooks) globals))
          (jank-hotpatch-mode -1)
          (should-not (memq #'jank-hotpatch-connection--changed after-change-functions))
          (should-not (memq #'jank-hotpatch-connection--saved after-save-hook))
          (should-not (memq #'jank-hotpatch-connection-flymake flymake-diagnostic-functions))
          (should-not jank-hotpatch-connection--current)
          (should (equal (mapcar #'default-value hooks) globals))
          ;; The first buffer keeps the sidecar.
          (should (jsonrpc-running-p connection))
          (should (equal (jank-hotpatch-connection--buffers connection) (list first))))
      (with-current-buffer buffer (set-buffer-modified-p nil))
      (kill-buffer buffer)
      (delete-file file))))

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
        (should (>= (plist-get report :pages) 1))
        ;; While the sidecar worked, the lighter said so.
        (should (member " jank[…]" lighters))
        (jank-hotpatch-test--wait-idle)
        (should (string-match-p "\\` jank\\[[0-9]+ms\\]\\'" (jank-hotpatch-test--lighter)))
        (should (string-match-p "core.jank patched demo.core/label in [0-9]+ ms → [0-9]+ page(s) | read .* | [0-9]+ pages?"
                                (jank-hotpatch-test--last-log-line)))
        (should (equal (jank-hotpatch-test--wait
                        "the page to show the new label"
                        (lambda () (let ((label (jank-hotpatch-test--label)))
                                     (and (equal label "pressed 0 times") label)))
                        20)
                       "pressed 0 times"))))))

(ert-deftest jank-hotpatch-test-e2e-undo-restores-the-previous-label ()
  (jank-hotpatch-test--in-demo
    (let ((before (jank-hotpatch-test--label)))
      (should (stringp before))
      (jank-hotpatch-test--replace "\"clicked \"" "\"undone \"")
      (should (eq (plist-get (jank-hotpatch-test--save) :ok) t))
      (jank-hotpatch-test--wait "the page to show the new label"
                                (lambda () (equal (jank-hotpatch-test--label) "undone 0 times"))
                                20)
      (let ((report (jank-hotpatch-test--patch (key-binding (kbd "C-c C-u")))))
        (should (eq (plist-get report :ok) t))
        (should (eq (plist-get report :undo) t))
        (should (string-match-p "\\`undid demo.core/label → version [0-9]+ in"
                                (plist-get report :summary)))
        (let ((version (plist-get (aref (plist-get report :versions) 0) :version)))
          (should (equal (seq-length (plist-get report :versions)) 1))
          (should (string-suffix-p (format "| demo.core/label v%d" version)
                                   (jank-hotpatch-test--last-log-line))))
        (should (equal (jank-hotpatch-test--wait
                        "the page to show the label it had before"
                        (lambda () (let ((label (jank-hotpatch-test--label)))
                                     (and (equal label before) label)))
                        20)
                       before))))))

(ert-deftest jank-hotpatch-test-e2e-compile-error-is-a-diagnostic-on-its-line ()
  (jank-hotpatch-test--in-demo
    (jank-hotpatch-test--replace "(defn speed [] 3)" "(defn speed [] (+ 3 no-such-var))")
    (let ((line (line-number-at-pos))
          (report (jank-hotpatch-test--save)))
      (should (eq (plist-get report :ok) :json-false))
      (should (plist-get report :error))
      (should (equal (jank-hotpatch-test--lighter) " jank[!]"))
      (should (string-match-p "compile failed: " (jank-hotpatch-test--last-log-line)))
      (should (= (line-number-at-pos
                  (flymake-diagnostic-beg (jank-hotpatch-test--diagnostic)))
                 line)))))

(ert-deftest jank-hotpatch-test-e2e-runtime-error-is-a-diagnostic-on-its-form-until-fixed ()
  (jank-hotpatch-test--in-demo
    (jank-hotpatch-test--replace "(defn radius [] 18)" "(defn radius [] (/ 1 0))")
    (let ((line (line-number-at-pos)))
      ;; It compiles, builds and loads; then the page calls it every frame.
      (should (eq (plist-get (jank-hotpatch-test--save) :ok) t))
      (let ((diagnostic (jank-hotpatch-test--wait
                         "a flymake diagnostic of the error thrown in the page"
                         #'jank-hotpatch-test--runtime-diagnostic)))
        (should (string-match-p
                 "\\`jank-hotpatch (runtime): demo\\.core/radius: divide by zero (thrown "
                 (flymake-diagnostic-text diagnostic)))
        (should (= (line-number-at-pos (flymake-diagnostic-beg diagnostic)) line)))
      (should (string-match-p
               "✗rt\\]\\'"
               (jank-hotpatch-test--wait
                "the lighter to show that the page is failing"
                (lambda () (let ((lighter (jank-hotpatch-test--lighter)))
                             (and (string-match-p "✗rt" lighter) lighter))))))
      (jank-hotpatch-test--wait
       "the error in *jank-hotpatch*"
       (lambda () (with-current-buffer jank-hotpatch-log-buffer
                    (string-match-p "^jank-hotpatch (runtime): .*divide by zero"
                                    (buffer-string)))))
      ;; The fix: the diagnostic and the lighter's ✗rt go, so the tests after
      ;; this one find a page that does not throw.
      (jank-hotpatch-test--replace "(defn radius [] (/ 1 0))" "(defn radius [] 18)")
      (should (eq (plist-get (jank-hotpatch-test--save) :ok) t))
      (jank-hotpatch-test--wait "the runtime diagnostic to clear"
                                (lambda () (not (jank-hotpatch-test--runtime-diagnostic))))
      (should (string-match-p
               "\\` jank\\[[0-9]+ms\\]\\'"
               (jank-hotpatch-test--wait
                "the lighter to show the patch without ✗rt"
                (lambda () (let ((lighter (jank-hotpatch-test--lighter)))
                             (and (not (string-match-p "✗rt" lighter)) lighter)))))))))

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
      (let ((overlays (jank-hotpatch-test--result-overlays)))
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

(ert-deftest jank-hotpatch-test-e2e-sidecar-exits-and-reconnect-starts-it ()
  ;; A workspace of its own, without jank or a page: only the sidecar matters.
  (let* ((tmp (make-temp-file "jank-hotpatch-reconnect-" t))
         (dir (expand-file-name "demo" tmp))
         (jank-hotpatch-server-command
          (list (jank-hotpatch-test--program "jank-hotpatch") "lsp")))
    (unwind-protect
        (with-temp-buffer
          (unless (zerop (call-process (car jank-hotpatch-server-command)
                                       nil t nil "demo" "--prepare" dir))
            (error "`jank-hotpatch demo --prepare' failed: %s" (buffer-string)))
          (with-current-buffer (find-file-noselect
                                (expand-file-name "src/demo/core.jank" dir))
            (unwind-protect
                (let ((eglot-server-programs nil))
                  (jank-hotpatch-mode 1)
                  (let ((process (jsonrpc--process (jank-hotpatch-connection-live))))
                    ;; Its first statuses may say it is busy starting.
                    (jank-hotpatch-test--wait "the sidecar to say it is ready"
                                              (lambda () (and (jank-hotpatch--status)
                                                              (equal (jank-hotpatch-test--lighter)
                                                                     " jank"))))
                    (signal-process process 'SIGKILL)
                    (jank-hotpatch-test--wait "the lighter to say the sidecar exited"
                                              (lambda () (equal (jank-hotpatch-test--lighter)
                                                                " jank[!]")))
                    (should (string-match-p "exited.*jank-hotpatch-reconnect"
                                            (plist-get (jank-hotpatch--status) :message)))
                    (should (equal (cadr (should-error (jank-hotpatch-form)
                                                       :type 'user-error))
                                   (plist-get (jank-hotpatch--status) :message)))
                    (jank-hotpatch-reconnect)
                    (let ((connection (jank-hotpatch-connection-live)))
                      (should connection)
                      (should-not (eq (jsonrpc--process connection) process))
                      (jank-hotpatch-test--wait "the new sidecar's status"
                                                (lambda () (plist-get (jank-hotpatch--status)
                                                                      :appUrl)))
                      (jank-hotpatch-mode -1)
                      ;; The last buffer gone: the sidecar exits by itself.
                      (should-not (process-live-p (jsonrpc--process connection))))))
              (jank-hotpatch-mode -1)
              (kill-buffer))))
      (delete-directory tmp t))))

;;; End to end: the sidecar as eglot's server, as a lsp-mode add-on

(defun jank-hotpatch-test--client-session (client dir &optional installed)
  "Patch the demo in DIR through CLIENT and print the outcome (in another Emacs).
CLIENT is a value of `jank-hotpatch-client'.  Wait for a page to
connect, give it the code of every var, change the label and save;
print the report, the lighter, where the package was loaded from and
the sidecar on one line \"RESULT (...)\".  The sidecar is the one
built in target/debug, or when INSTALLED the one on PATH."
  (unless installed
    (setq jank-hotpatch-server-command
          (list (jank-hotpatch-test--program "jank-hotpatch") "lsp")))
  (customize-set-variable 'jank-hotpatch-client client)
  (pcase client
    ('eglot (jank-hotpatch-test--project-at dir))
    ('lsp-mode
     (require 'lsp-mode)
     (setq lsp-session-file (expand-file-name "../lsp-session" dir)
           lsp-enable-snippet nil
           lsp-restart 'ignore)
     (lsp-workspace-folders-add dir)))
  (with-current-buffer (find-file-noselect (expand-file-name "src/demo/core.jank" dir))
    (jank-hotpatch-mode 1)
    (pcase client
      ('eglot (eglot-ensure) (run-hooks 'post-command-hook))
      ('lsp-mode (lsp)))
    (jank-hotpatch-test--wait
     "a page to connect"
     (lambda () (let ((pages (plist-get (jank-hotpatch--status) :pages)))
                  (and (numberp pages) (> pages 0))))
     90)
    (jank-hotpatch-test--patch #'jank-hotpatch-file)
    (jank-hotpatch-test--replace "\"clicked \"" "\"pressed \"")
    (let ((report (jank-hotpatch-test--save)))
      (jank-hotpatch-test--wait-idle)
      (princ (format "RESULT %S\n"
                     (list :ok (plist-get report :ok)
                           :forms (mapcar (lambda (form) (plist-get form :name))
                                          (plist-get report :forms))
                           :uri (equal (plist-get report :uri) (jank-hotpatch--buffer-uri))
                           :lighter (jank-hotpatch-test--lighter)
                           :library (locate-library "jank-hotpatch")
                           :sidecar (jank-hotpatch--sidecar)))))
    (pcase client
      ('own (jank-hotpatch-mode -1))
      ('eglot (eglot-shutdown (eglot-current-server) nil 3))
      ('lsp-mode (lsp-workspace-shutdown (jank-hotpatch--lsp-workspace))))))

(defun jank-hotpatch-test--installed-emacs (tmp)
  "The command of a clean Emacs that installs the release's package first.
It runs with `-Q' and a fresh `package-user-dir' under TMP, installs
target/dist's jank-hotpatch-VERSION.tar with `package-install-file',
then loads the tests (which require the installed package).  Its
eglot 1.9 comes from the system's packages (Debian's elpa-eglot), as
in the user's Emacs."
  (require 'package)
  (let ((tar (jank-hotpatch-test--artifact "jank-hotpatch-[0-9]*[0-9].tar")))
    (list (expand-file-name invocation-name invocation-directory) "--batch" "-Q"
          "--eval"
          (format "%S"
                  `(progn
                     (require 'package)
                     (setq package-user-dir ,(expand-file-name "elpa" tmp)
                           package-directory-list ',package-directory-list
                           package-archives nil)
                     (package-initialize)
                     (package-install-file ,tar)))
          "-l" (expand-file-name "tests/emacs/jank-hotpatch-tests.el"
                                 jank-hotpatch-test--root))))

(defun jank-hotpatch-test--artifact (pattern)
  "The file of target/dist matching the wildcard PATTERN, or fail saying how to make it."
  (or (car (file-expand-wildcards
            (expand-file-name pattern (expand-file-name "target/dist" jank-hotpatch-test--root))))
      (ert-fail (format "no target/dist/%s: run scripts/dist.sh --profile debug --out target/dist"
                        pattern))))

(defun jank-hotpatch-test--client-patches-the-page (client &optional installed)
  "Check that the sidecar patches the page through CLIENT.
`jank-hotpatch-test--client-session' runs in another Emacs, with a
demo workspace, stand-in jank and Chromium of its own.  When
INSTALLED, that Emacs is a clean one with the release's Emacs
package installed, and the release archive, unpacked, is its PATH's
first directory; return the session's result."
  (let* ((tmp (make-temp-file (format "jank-hotpatch-%s-" client) t))
         (dir (expand-file-name "demo" tmp))
         (app-url (expand-file-name ".jank-hotpatch/app-url" dir))
         (processes '())
         result)
    (unwind-protect
        (let (emacs devtools-port)
          (push (jank-hotpatch-test--prepare-demo dir) processes)
          (delete-file app-url)
          (let ((process-environment (copy-sequence process-environment))
                (command (if installed
                             (jank-hotpatch-test--installed-emacs tmp)
                           (list (expand-file-name invocation-name invocation-directory)
                                 "--batch" "-L" (expand-file-name "emacs" jank-hotpatch-test--root)
                                 "-l" (expand-file-name "tests/emacs/jank-hotpatch-tests.el"
                                                        jank-hotpatch-test--root)))))
            (when installed
              (let ((prefix (expand-file-name "release" tmp)))
                (make-directory prefix)
                (unless (zerop (call-process "tar" nil nil nil "-xzf"
                                             (jank-hotpatch-test--artifact
                                              "jank-hotpatch-*-x86_64-unknown-linux-gnu.tar.gz")
                                             "-C" prefix "--strip-components=1"))
                  (error "Cannot unpack the release archive"))
                (setenv "PATH" (concat prefix path-separator (getenv "PATH")))))
            (setq emacs (jank-hotpatch-test--start-process
                         (format "emacs with %s" client)
                         (append command
                                 (list "--eval" (format "%S" `(jank-hotpatch-test--client-session
                                                               ',client ,dir ,installed))))
                         tmp)))
          (push emacs processes)
          (let* ((url (jank-hotpatch-test--wait
                       "the sidecar to write the app's URL"
                       (lambda ()
                         (cond ((file-exists-p app-url)
                                (with-temp-buffer
                                  (insert-file-contents app-url)
                                  (string-trim (buffer-string))))
                               ((not (process-live-p emacs))
                                (error "The other Emacs exited: %s"
                                       (jank-hotpatch-test--output emacs)))))
                       60))
                 (chromium (jank-hotpatch-test--start-chromium
                            url (expand-file-name "chromium" tmp))))
            (push (car chromium) processes)
            (setq devtools-port (cdr chromium)))
          (jank-hotpatch-test--wait "the other Emacs to finish"
                                    (lambda () (not (process-live-p emacs)))
                                    150)
          ;; A process can be dead with its last output not yet read: read it all.
          (while (accept-process-output emacs 0.2))
          (let ((output (jank-hotpatch-test--output emacs)))
            (should (equal (cons (process-exit-status emacs) output) (cons 0 output)))
            (should (string-match "^RESULT \\(.*\\)$" output))
            (progn
              (setq result (read (match-string 1 output)))
              (should (equal (plist-get result :ok) t))
              (should (equal (plist-get result :forms) '("label")))
              (should (equal (plist-get result :uri) t))
              (should (string-match-p "\\` jank\\[[0-9]+ms\\]\\'"
                                      (plist-get result :lighter)))))
          (should (equal (jank-hotpatch-test--wait
                          "the page to show the new label"
                          (lambda ()
                            (let ((label (jank-hotpatch-test--label devtools-port)))
                              (and (equal label "pressed 0 times") label)))
                          20)
                         "pressed 0 times"))
          result)
      (mapc #'jank-hotpatch-test--stop-process processes)
      (jank-hotpatch-test--delete-directory tmp))))

(ert-deftest jank-hotpatch-test-e2e-installed-from-the-release-tar ()
  ;; The Emacs package and the sidecar as a user gets them: the package
  ;; installed with `package-install-file' in a clean Emacs, the sidecar
  ;; found on PATH in the unpacked release archive.
  (let* ((result (jank-hotpatch-test--client-patches-the-page 'own t))
         (library (plist-get result :library)))
    (should (string-match-p "/elpa/jank-hotpatch-[0-9.]+/jank-hotpatch\\.elc?\\'" library))
    (should-not (string-prefix-p jank-hotpatch-test--root library))
    (should (string-match-p (format "\\`jank-hotpatch %s (/.*/release/jank-hotpatch)\\'"
                                    (regexp-quote jank-hotpatch-protocol-version))
                            (plist-get result :sidecar)))))

(ert-deftest jank-hotpatch-test-e2e-as-a-lsp-mode-add-on ()
  ;; In its own Emacs, so that lsp-mode stays out of the other tests.
  (jank-hotpatch-test--require-installed "lsp-mode")
  (jank-hotpatch-test--client-patches-the-page 'lsp-mode))

(ert-deftest jank-hotpatch-test-e2e-as-the-eglot-server ()
  (jank-hotpatch-test--client-patches-the-page 'eglot))

;;; Running

(defun jank-hotpatch-test-run (selector)
  "Run the tests SELECTOR selects, in batch, and exit.
The closing line counts the tests that passed, failed and were
skipped; the exit status is 1 when one failed."
  (let ((stats (ert-run-tests-batch selector)))
    ;; Stop the fixture now, so that its messages come before the count.
    (jank-hotpatch-test--stop)
    (message "%d passed, %d failed, %d skipped"
             (ert-stats-completed-expected stats)
             (ert-stats-completed-unexpected stats)
             (ert-stats-skipped stats))
    (kill-emacs (if (zerop (ert-stats-completed-unexpected stats)) 0 1))))

(provide 'jank-hotpatch-tests)
;;; jank-hotpatch-tests.el ends here
