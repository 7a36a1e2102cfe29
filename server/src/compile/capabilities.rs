//! What the connected jank can do, asked once per connection before anything else is sent.
//!
//! `describe` first. The jank fork answers `wasm-compile-patch` without listing it, so an op
//! that is not listed is probed with empty code: a server with the op answers `missing-code`
//! and does nothing, one without it (upstream jank, Clojure's nREPL) answers `unknown-op`.
//!
//! In which namespace the op analyses code is asked only when it matters (a symbol failed to
//! resolve, or the C++ names a namespace other than the file's and `clojure.core`): a probe
//! `(def p (fn [] (p)))` compiles to `jank_call_var("<ns>", "p", ...)`, and jank interns a def
//! in the namespace it analyses in, so `<ns>` is that namespace (the fork: `user`, whatever
//! `ns` said). The probe's C++ is read, never built; its var stays interned, unbound, there.

use std::collections::HashMap;

use crate::nrepl::{Describe, Link, Message, NreplError};

use super::COMPILE_OP;

const PROBE_VAR: &str = "__jank_hotpatch_probe";

pub struct Capabilities {
    pub describe: Describe,
    pub has_op: bool,
    /// Requested namespace -> the namespace the op analysed the probe in (`None`: no answer).
    analysis: HashMap<String, Option<String>>,
}

impl Capabilities {
    pub async fn ask(link: &Link) -> Result<Capabilities, NreplError> {
        let describe = link.client.describe().await?;
        let has_op = describe.has_op(COMPILE_OP) || {
            let probe = Message::op(COMPILE_OP).with("session", link.session.as_str()).with("code", "");
            let response = link.client.request(probe).await?;
            !(response.has_status("unknown-op") || response.get_str("err") == Some("unknown-op"))
        };
        tracing::info!(has_op, ops = ?describe.ops, "jank's nREPL server described");
        Ok(Capabilities { describe, has_op, analysis: HashMap::new() })
    }

    /// The namespace the op analyses code sent with `ns` in, when the probe tells.
    pub async fn analysis_ns(&mut self, link: &Link, ns: &str) -> Result<Option<String>, NreplError> {
        if let Some(known) = self.analysis.get(ns) {
            return Ok(known.clone());
        }
        let probe = Message::op(COMPILE_OP)
            .with("session", link.session.as_str())
            .with("code", format!("(def {PROBE_VAR} (fn [] ({PROBE_VAR})))"))
            .with("ns", ns)
            .with("patch-id", "0");
        let response = link.client.request(probe).await?;
        let cpp = response.get_str("cpp-code").unwrap_or_default();
        let found = referenced_vars(cpp).find(|(_, name)| *name == PROBE_VAR).map(|(ns, _)| ns.to_string());
        tracing::info!(requested = ns, analysed = ?found, "probed where jank's op analyses code");
        self.analysis.insert(ns.to_string(), found.clone());
        Ok(found)
    }
}

/// The vars (namespace, name) that the C++ of jank's code generator calls or dereferences, in
/// order: its `jank_call_var("ns", "name", ...)` and `jank_deref_var("ns", "name")`.
pub fn referenced_vars(cpp: &str) -> impl Iterator<Item = (&str, &str)> {
    ["jank_call_var(\"", "jank_deref_var(\""]
        .into_iter()
        .flat_map(move |call| cpp.match_indices(call).map(move |(at, _)| &cpp[at + call.len()..]))
        .filter_map(|rest| {
            let (ns, rest) = rest.split_once("\", \"")?;
            let (name, _) = rest.split_once('"')?;
            Some((ns, name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_vars_read_from_the_generated_calls() {
        let cpp = "  void *tmp_0 = jank_call_var(\"user\", \"fact\", 1, tmp_1);\n  void *tmp_2 = jank_deref_var(\"demo.core\", \"x\");\n";
        let vars: Vec<_> = referenced_vars(cpp).collect();
        assert_eq!(vars, [("user", "fact"), ("demo.core", "x")]);
        assert_eq!(referenced_vars("// ERROR: def value is not a function").count(), 0);
    }
}
