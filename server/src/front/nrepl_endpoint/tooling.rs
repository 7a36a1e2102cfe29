//! The evaluations editors send about the REPL itself rather than code for the page: CIDER's
//! and Calva's start-up code, CIDER's follow-ups after an error, Conjure's preamble and
//! session-type probe, `require` of a namespace, `*ns*`, `in-ns`. Each is recognised exactly (its
//! whitespace-normalized text, see [`answer`]) and answered here, the way the JVM REPL the
//! editor expects would answer it, so that the editor carries on quietly.
//!
//! Why not send them to the page or to jank: they ask about a JVM Clojure REPL
//! (`clojure.main/repl-requires`, `clojure.stacktrace`, `*e`, `conjure.internal`), which jank
//! does not have, so either would answer with an error the editor shows on connect or after
//! every failed eval; and sent to the page, each would also become a patch. Requires are not
//! lost by answering `nil`: every namespace of the workspace is built into the page, and a
//! form is compiled with its namespace's `ns` form (and so its requires) loaded in jank.
//! Anything not in this list, however tooling-like, is code and goes to the page.

use crate::reader;

/// What CIDER (`cider-repl-init-code`) and Calva (`calva.autoEvaluateCode.onConnect.clj`) evaluate
/// on connect: refer `doc`, `source` and the other REPL helpers. jank's REPL has none to refer.
const REPL_REQUIRES: &str =
    "(when-let [requires (resolve 'clojure.main/repl-requires)] (clojure.core/apply clojure.core/require @requires))";
/// CIDER after an eval error, without cider-nrepl: print the last exception's cause trace (after
/// `(require 'clojure.stacktrace)` answered), else its data. Our error replies already carry the
/// whole message; answering `nil` with no output leaves CIDER's error buffer closed.
const CAUSE_TRACE: &str = "(clojure.stacktrace/print-cause-trace *e)";
const EX_DATA: &str = "(println (ex-data *e))";
/// Conjure's session-type probe. jank's reader has the `:jank` feature, not these, so jank picks
/// `:default`.
const SESSION_TYPE: &str = "#?(:clj 'clj :cljs 'cljs :cljr 'cljr :default 'unknown)";
/// Conjure's preamble (`res/client/clojure/preamble.cljc`, templated) starts and ends with these:
/// it defines JVM helpers (taps, a pprint shim, a test reporter) in `conjure.internal`.
const CONJURE_PREAMBLE: (&str, &str) = ("(create-ns 'conjure.internal)", "(in-ns initial-ns)");

/// How to answer one of the evaluations above.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// With this printed value.
    Value(String),
    /// `(in-ns 'a.b)` (CIDER's `cider-repl-set-ns`, Calva's REPL window): the session switches
    /// to that namespace, which is also the value.
    InNs(String),
}

/// The answer to `code` if it is one of the evaluations above; `ns` is the namespace the
/// evaluation runs in.
pub fn answer(code: &str, ns: &str) -> Option<Answer> {
    let parsed = reader::parse(code);
    if !parsed.errors.is_empty() {
        return None;
    }
    let forms: Vec<String> = parsed.forms.iter().map(|f| f.normalized(code)).collect();
    let nil = Some(Answer::Value("nil".into()));
    match forms.as_slice() {
        [form] if [REPL_REQUIRES, CAUSE_TRACE, EX_DATA].contains(&form.as_str()) => nil,
        [form] if form == SESSION_TYPE => Some(Answer::Value("unknown".into())),
        [form] if form == "*ns*" => Some(Answer::Value(ns.to_string())),
        // CIDER's `(require 'clojure.stacktrace)` probe, Conjure's require of the buffer's namespace.
        [form] if quoted_namespace(form, "require").is_some() => nil,
        [form] => quoted_namespace(form, "in-ns").map(|ns| Answer::InNs(ns.to_string())),
        [first, .., last] if (first.as_str(), last.as_str()) == CONJURE_PREAMBLE => nil,
        _ => None,
    }
}

/// `a.b` in `(<head> 'a.b)`.
fn quoted_namespace<'f>(form: &'f str, head: &str) -> Option<&'f str> {
    let ns = form.strip_prefix('(')?.strip_prefix(head)?.strip_prefix(" '")?.strip_suffix(')')?;
    (!ns.is_empty() && ns.chars().all(|c| c.is_alphanumeric() || "-_.*+!?<>=".contains(c))).then_some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editors_tooling_forms_are_answered_and_code_is_not() {
        let value = |v: &str| Some(Answer::Value(v.into()));
        let cider_init = "(when-let [requires (resolve 'clojure.main/repl-requires)]\n  (clojure.core/apply clojure.core/require @requires))";
        let calva_init = "(when-let [requires (resolve 'clojure.main/repl-requires)]\n                        (clojure.core/apply clojure.core/require @requires))";
        let preamble = "(create-ns 'conjure.internal)\n(intern 'conjure.internal 'initial-ns (symbol (str *ns*)))\n(ns conjure.internal)\n(in-ns initial-ns)\n";
        for code in [
            cider_init,
            calva_init,
            "(require 'clojure.stacktrace)",
            "(require 'demo.core)",
            "(clojure.stacktrace/print-cause-trace *e)",
            "(println (ex-data *e))",
            preamble,
        ] {
            assert_eq!(answer(code, "user"), value("nil"), "{code}");
        }
        assert_eq!(answer("*ns*", "demo.core"), value("demo.core"));
        assert_eq!(answer("#?(:clj 'clj :cljs 'cljs :cljr 'cljr :default 'unknown)", "user"), value("unknown"));
        assert_eq!(answer("(in-ns 'demo.core)", "user"), Some(Answer::InNs("demo.core".into())));

        for code in [
            "(+ 40 2)",
            "(require 'demo.core) (+ 1 2)",
            "(require '[demo.core :as c])",
            "(in-ns initial-ns)",
            "(println (ex-data x))",
            "(create-ns 'conjure.internal)",
            "(defn require [x] x)",
            "(when-let [requires (resolve 'clojure.main/repl-requires)]",
        ] {
            assert_eq!(answer(code, "user"), None, "{code}");
        }
    }
}
