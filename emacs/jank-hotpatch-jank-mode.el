;;; jank-hotpatch-jank-mode.el --- A major mode for jank files, where none exists  -*- lexical-binding: t; -*-

;; This file is not part of GNU Emacs.

;;; Commentary:

;; `jank-mode' for .jank files, derived from `clojure-mode' when that is
;; installed, else from `lisp-data-mode', and defined only when no other
;; `jank-mode' exists (clojure-mode 5.20 and later has its own).  Apart
;; from `jank-hotpatch-mode', which works whatever the buffer's major mode.

;;; Code:

(defalias 'jank-hotpatch-jank-mode--parent
  (if (require 'clojure-mode nil t) 'clojure-mode 'lisp-data-mode)
  "The mode `jank-mode' derives from: `clojure-mode' when installed.")

;;;###autoload (autoload 'jank-mode "jank-hotpatch-jank-mode" "Major mode for jank." t)
(unless (fboundp 'jank-mode)
  (define-derived-mode jank-mode jank-hotpatch-jank-mode--parent "jank"
    "Major mode for jank, a Clojure dialect that compiles to C++.
Defined by jank-hotpatch when no other `jank-mode' exists."))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.jank\\'" . jank-mode))

(provide 'jank-hotpatch-jank-mode)
;;; jank-hotpatch-jank-mode.el ends here
