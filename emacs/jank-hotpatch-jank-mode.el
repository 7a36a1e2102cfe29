;;; jank-hotpatch-jank-mode.el --- A major mode for jank files, where none exists  -*- lexical-binding: t; -*-

;; This file is not part of GNU Emacs.

;;; Commentary:

;; .jank files open in `jank-mode' when a package defines it
;; (clojure-mode 5.20 and later does), else in
;; `jank-hotpatch-jank-mode', a small mode derived from `clojure-mode'
;; when that is installed, else from `lisp-data-mode'.  That mode runs
;; `jank-mode-hook' as its own hook, so a configuration that adds to
;; `jank-mode-hook' works with either.  Apart from `jank-hotpatch-mode',
;; which works whatever the buffer's major mode.

;;; Code:

(defalias 'jank-hotpatch-jank-mode--parent
  (if (require 'clojure-mode nil t) 'clojure-mode 'lisp-data-mode)
  "The mode `jank-hotpatch-jank-mode' derives from: `clojure-mode' when installed.")

;; Its hook is `jank-mode-hook': what users add to for jank files, whichever
;; mode opens them.
(defvaralias 'jank-hotpatch-jank-mode-hook 'jank-mode-hook
  "Hook run by `jank-hotpatch-jank-mode': the same as `jank-mode-hook'.")

;;;###autoload
(define-derived-mode jank-hotpatch-jank-mode jank-hotpatch-jank-mode--parent "jank"
  "Major mode for jank, a Clojure dialect that compiles to C++.
The mode jank-hotpatch opens .jank files in when no package defines
`jank-mode'.  It runs `jank-mode-hook'.")

;;;###autoload
(defun jank-hotpatch-jank-file-mode ()
  "Turn on the major mode for a jank file.
That is `jank-mode' when a package defines it (clojure-mode 5.20
and later does), else `jank-hotpatch-jank-mode'."
  (if (fboundp 'jank-mode)
      (funcall 'jank-mode)
    (jank-hotpatch-jank-mode)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.jank\\'" . jank-hotpatch-jank-file-mode))

(provide 'jank-hotpatch-jank-mode)
;;; jank-hotpatch-jank-mode.el ends here
