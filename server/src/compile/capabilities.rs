//! What the connected jank can do, asked once per connection before anything else is sent.
//!
//! `describe` first. The jank fork answers `wasm-compile-patch` without listing it, so an op
//! that is not listed is probed with empty code: a server with the op answers `missing-code`
//! and does nothing, one without it (upstream jank, Clojure's nREPL) answers `unknown-op`.
//!
//! In which namespace the op analyses code is asked only after a symbol failed to resolve: a
//! probe `(def p (fn [] (p)))` compiles to `jank_call_var("<ns>", "p", ...)`, and jank interns
//! a def in the namespace it analyses in, so `<ns>` is that namespace (the fork: `user`,
//! whatever `ns` said). The probe's C++ is read, never built.

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
        let found = response.get_str("cpp-code").and_then(|cpp| called_ns(cpp, PROBE_VAR)).map(str::to_string);
        tracing::info!(requested = ns, analysed = ?found, "probed where jank's op analyses code");
        self.analysis.insert(ns.to_string(), found.clone());
        Ok(found)
    }
}

/// The namespace of the first `jank_call_var` or `jank_deref_var` of a var named `name` in the
/// C++ of jank's code generator.
pub fn called_ns<'c>(cpp: &'c str, name: &str) -> Option<&'c str> {
    let tail = format!("\", \"{name}\"");
    cpp.match_indices(&tail).find_map(|(end, _)| {
        let before = &cpp[..end];
        let start = ["jank_call_var(\"", "jank_deref_var(\""]
            .iter()
            .filter_map(|call| before.rfind(call).map(|i| i + call.len()))
            .max()?;
        let ns = &before[start..];
        (!ns.contains('"')).then_some(ns)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_namespace_read_from_the_generated_call() {
        let cpp = "  void *tmp_0 = jank_call_var(\"user\", \"fact\", 1, tmp_1);\n";
        assert_eq!(called_ns(cpp, "fact"), Some("user"));
        assert_eq!(called_ns(cpp, "other"), None);
        let cpp = "  void *tmp_0 = jank_deref_var(\"demo.core\", \"x\");\n  jank_call_var(\"a\", \"f\", 0, nullptr);";
        assert_eq!(called_ns(cpp, "x"), Some("demo.core"));
        assert_eq!(called_ns(cpp, "f"), Some("a"));
    }
}
