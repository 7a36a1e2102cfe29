//! The wire protocol between the sidecar and the browser client (`client/*.js`).
//!
//! Owns: the frame layouts and their limits. Must not touch sockets: `server.rs` moves the
//! frames, `hub.rs` decides who gets them.
//!
//! - server -> page, text: `{"op":"welcome","session":s,"journal":n}` once per connection.
//! - server -> page, binary, one per patch: `u32` big-endian header length, the JSON
//!   [`PatchHeader`], then the side module's bytes. A batch is `count` such frames with the
//!   same `batch` number; the forms of one save share one side module (`module`), whose bytes
//!   only its first frame in the batch carries (the page loads them once and calls each
//!   frame's `entry` from them); journal replays are batches with `replay: true`, undos batches
//!   with `undo: true` (earlier versions: a page that loaded one before rebinds it from the
//!   module it still has, without compiling the bytes again). Headers carry the batch's load
//!   hooks (`before_load`, `after_load`), which the page calls around it.
//! - server -> page, text: `{"op":"failures","failed":[FormFailure],"fine":[key]}`: forms that
//!   failed before reaching the pages (compile, build, check), for the HUD, and the keys of
//!   forms shown before that are fine now. Sent after the journal to a page that connects.
//! - page -> server, text: `{"op":"hello","api":PageApi}` once its main module runs: which
//!   module it found and which of the functions the client calls it lacks.
//! - page -> server, text: `{"op":"ack","batch":b,"results":[{"id","ok","load_ms","value"?,
//!   "error"?, "skipped"?, "rebound"?, "output"?}], "hooks"?: [{"var", "ok", "error"?,
//!   "output"?}], "handled_ms"?}` once the page applied (or failed) every patch of batch `b`;
//!   `handled_ms` is the page's own time on the batch (first frame handled -> ack sent).
//! - page -> server, text: `{"op":"runtime_error","key","message","where","origin":"jank"|"app",
//!   "count","patch"?,"after"?:{"vars","ms"}}`: an error thrown while code ran in the page, one
//!   message per distinct error (`key`) and at most every 250 ms, its `count` growing; `patch`
//!   is the innermost patched function's on the stack, `after` the last batch the page loaded
//!   before it when none is. `{"op":"runtime_clear","keys"}` when a batch loaded: those are
//!   counted afresh if they happen again.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::stages::{FormFailure, ModuleId, Patch, PatchId, PatchKind, PatchOrigin, VarName};

/// Largest message a page may send: acks are small JSON.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// The client checks fewer names than this; a page naming more is not our client.
const MAX_API_NAMES: usize = 64;

/// What the page needs to load one side module and report on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatchHeader {
    pub batch: u64,
    pub index: usize,
    pub count: usize,
    /// A journal replay to a page that connected late (the page skips patches it has).
    pub replay: bool,
    /// Going back to an earlier version of the var (undo).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undo: bool,
    pub id: PatchId,
    /// The side module holding the patch; the page loads each module once.
    pub module: ModuleId,
    pub entry: String,
    pub var: VarName,
    pub kind: PatchKind,
    pub origin: PatchOrigin,
    /// Called before the batch's first patch and after its last (the same in every header).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_load: Vec<VarName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_load: Vec<VarName>,
}

impl PatchHeader {
    /// The header of one patch, alone in its batch, sent for the first time.
    pub fn new(
        id: PatchId,
        module: ModuleId,
        entry: String,
        var: VarName,
        kind: PatchKind,
        origin: PatchOrigin,
    ) -> Self {
        PatchHeader {
            batch: 0,
            index: 0,
            count: 1,
            replay: false,
            undo: false,
            id,
            module,
            entry,
            var,
            kind,
            origin,
            before_load: Vec::new(),
            after_load: Vec::new(),
        }
    }

    pub fn of(patch: &Patch) -> Self {
        let m = &patch.module;
        PatchHeader::new(
            m.patch_id,
            m.module,
            m.entry_symbol.clone(),
            m.var.clone(),
            m.kind.clone(),
            patch.origin.clone(),
        )
    }
}

/// One binary frame: header length, header, module bytes.
pub fn encode_patch(header: &PatchHeader, module: &[u8]) -> Bytes {
    // Serializing plain strings and numbers cannot fail; an empty header would be refused
    // by the page, which is the right outcome for an impossible case.
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut frame = Vec::with_capacity(4 + json.len() + module.len());
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(&json);
    frame.extend_from_slice(module);
    Bytes::from(frame)
}

/// The frames of one batch: a module's bytes go in the first frame that needs them only.
pub fn encode_batch(frames: &[(PatchHeader, Arc<[u8]>)]) -> Vec<Bytes> {
    let mut sent = HashSet::new();
    frames
        .iter()
        .map(|(header, bytes)| encode_patch(header, if sent.insert(header.module) { bytes } else { &[] }))
        .collect()
}

/// The inverse of [`encode_patch`] (tests and tools read frames with it).
pub fn decode_patch(frame: &[u8]) -> Option<(PatchHeader, &[u8])> {
    let len = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?) as usize;
    let json = frame.get(4..4 + len)?;
    let header = serde_json::from_slice(json).ok()?;
    Some((header, &frame[4 + len..]))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ServerMessage {
    Welcome { session: String, journal: usize },
    Failures { failed: Vec<FormFailure>, fine: Vec<String> },
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a page may send. Anything else drops the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    Ack {
        batch: u64,
        results: Vec<LoadResult>,
        /// The batch's load hooks, in the order called.
        #[serde(default)]
        hooks: Vec<HookResult>,
        /// The page's own time on the batch: from handling its first frame to sending this
        /// ack (the loads, the hooks, the events). What is left of the round trip is the socket.
        #[serde(default)]
        handled_ms: f64,
    },
    Hello {
        api: PageApi,
    },
    #[serde(rename = "runtime_error")]
    RuntimeError(RuntimeReport),
    #[serde(rename = "runtime_clear")]
    RuntimeClear {
        keys: Vec<String>,
    },
}

/// A page's report of one distinct runtime error, with its count so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeReport {
    pub key: String,
    pub message: String,
    #[serde(rename = "where")]
    pub caught_in: String,
    pub origin: RuntimeOrigin,
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterReport>,
}

/// Whose code threw: jank's (a C++ exception, a trap, wasm frames on the stack) or the app's JS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeOrigin {
    Jank,
    App,
}

/// The last batch the page loaded before the error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterReport {
    pub vars: Vec<String>,
    pub ms: f64,
}

/// How calling one load hook went in one page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookResult {
    pub var: VarName,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

/// What a page runs, as its client found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageApi {
    /// `global` (a classic build's `Module`) or `attached` (handed over with
    /// `jankHotpatch.attach`, as an ES6/MODULARIZE build must).
    pub module: String,
    /// The functions and runtime methods the client calls that the main module lacks
    /// (`_jank_to_code_string`, `FS`, ...); the client falls back where it can.
    pub missing: Vec<String>,
    /// The main module's `.wasm` as the page fetched it, and the SHA-256 of its bytes.
    pub main_module_url: Option<String>,
    pub main_module_sha256: Option<String>,
}

/// How loading one patch went in one page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadResult {
    pub id: PatchId,
    pub ok: bool,
    /// The page's own measure (performance.now()) of writing and loading the module.
    pub load_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The page already had this patch (journal replay after a reconnect).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The page had loaded this module before (undo) and bound its vars again from it,
    /// without writing or compiling the bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebound: bool,
    /// What the code printed in the page while loading (and, for an expression, running).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("message of {0} bytes is above the limit of {MAX_CLIENT_MESSAGE_BYTES}")]
    TooLarge(usize),
    #[error("binary messages are not expected from pages")]
    Binary,
    #[error("not a valid message: {0}")]
    Malformed(String),
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        if text.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err(ProtocolError::TooLarge(text.len()));
        }
        let message: ClientMessage = serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        match &message {
            ClientMessage::Ack { results, handled_ms, .. }
                if results.iter().map(|r| r.load_ms).chain([*handled_ms]).any(|ms| !ms.is_finite() || ms < 0.0) =>
            {
                Err(ProtocolError::Malformed("load_ms and handled_ms must be finite, non-negative numbers".into()))
            }
            ClientMessage::Hello { api } if api.missing.len() > MAX_API_NAMES => {
                Err(ProtocolError::Malformed(format!("more than {MAX_API_NAMES} missing names")))
            }
            ClientMessage::RuntimeError(RuntimeReport { after: Some(after), .. })
                if !after.ms.is_finite() || after.ms < 0.0 || after.vars.len() > MAX_API_NAMES =>
            {
                Err(ProtocolError::Malformed("after: ms must be finite and non-negative, vars few".into()))
            }
            _ => Ok(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::SideModule;

    fn patch() -> Patch {
        crate::deliver::test_patch(42, "speed", PatchKind::Definition)
    }

    #[test]
    fn patch_frame_round_trips() {
        let p = patch();
        let mut header = PatchHeader::of(&p);
        header.batch = 9;
        let frame = encode_patch(&header, &p.module.bytes);
        let (back, bytes) = decode_patch(&frame).unwrap();
        assert_eq!(bytes, &*p.module.bytes);
        assert_eq!(back.id, PatchId(42));
        assert_eq!(back.batch, 9);
        assert_eq!(back.entry, "jank_patch_symbols_42");
        let json: serde_json::Value = serde_json::from_slice(&frame[4..frame.len() - bytes.len()]).unwrap();
        assert_eq!(json["kind"], "definition");
        assert_eq!(json["var"]["name"], "speed");
        assert_eq!(json["origin"]["line"], 3);
        assert_eq!(json["origin"]["form"], "(defn speed [] 42)");
    }

    #[test]
    fn a_module_shared_by_a_batch_is_sent_once() {
        let (a, b, c) = (patch(), crate::deliver::test_patch(43, "slow", PatchKind::Definition), patch());
        let shared = SideModule { patch_id: PatchId(44), entry_symbol: PatchId(44).entry_symbol(), ..a.module.clone() };
        let frames: Vec<_> = [&a.module, &shared, &b.module, &c.module]
            .into_iter()
            .map(|m| (PatchHeader::of(&Patch { module: m.clone(), origin: a.origin.clone() }), m.bytes.clone()))
            .collect();
        let sizes: Vec<(u64, usize)> = encode_batch(&frames)
            .iter()
            .map(|f| decode_patch(f).map(|(h, bytes)| (h.id.0, bytes.len())).unwrap())
            .collect();
        let len = a.module.bytes.len();
        assert_eq!(sizes, [(42, len), (44, 0), (43, b.module.bytes.len()), (42, 0)]);
    }

    #[test]
    fn runtime_errors_parse_and_bad_ones_say_why() {
        let report = ClientMessage::parse(
            r#"{"op":"runtime_error","key":"jank 7 divide by zero","message":"divide by zero","where":"the animation frame","origin":"jank","count":12,"patch":7}"#,
        );
        let Ok(ClientMessage::RuntimeError(report)) = report else { panic!("{report:?}") };
        assert_eq!((report.count, report.patch, report.origin), (12, Some(PatchId(7)), RuntimeOrigin::Jank));
        let app = ClientMessage::parse(
            r#"{"op":"runtime_error","key":"k","message":"m","where":"a promise","origin":"app","count":1,"after":{"vars":["demo.core/radius"],"ms":400.5}}"#,
        );
        assert!(matches!(app, Ok(ClientMessage::RuntimeError(RuntimeReport { after: Some(_), .. }))), "{app:?}");
        let clear = ClientMessage::parse(r#"{"op":"runtime_clear","keys":["k"]}"#);
        assert_eq!(clear, Ok(ClientMessage::RuntimeClear { keys: vec!["k".into()] }));
        for bad in [
            r#"{"op":"runtime_error","key":"k","message":"m","where":"w","origin":"server","count":1}"#,
            r#"{"op":"runtime_error","key":"k","message":"m","where":"w","origin":"app","count":-1}"#,
            r#"{"op":"runtime_error","key":"k","message":"m","where":"w","origin":"app","count":1,"after":{"vars":[],"ms":-1}}"#,
        ] {
            assert!(matches!(ClientMessage::parse(bad), Err(ProtocolError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn truncated_frames_do_not_decode() {
        assert!(decode_patch(&[0, 0]).is_none());
        assert!(decode_patch(&[0, 0, 0, 200, b'{']).is_none());
    }

    #[test]
    fn acks_parse_and_bad_messages_say_why() {
        let ok =
            ClientMessage::parse(r#"{"op":"ack","batch":3,"results":[{"id":7,"ok":true,"load_ms":0.4,"value":"42"}]}"#);
        let Ok(ClientMessage::Ack { batch, results, .. }) = ok else { panic!("{ok:?}") };
        assert_eq!(batch, 3);
        assert_eq!(results[0].value.as_deref(), Some("42"));
        let hello = ClientMessage::parse(
            r#"{"op":"hello","api":{"module":"attached","missing":["_jank_to_code_string"],"main_module_url":null,"main_module_sha256":null}}"#,
        );
        let Ok(ClientMessage::Hello { api }) = hello else { panic!("{hello:?}") };
        assert_eq!((api.module.as_str(), api.missing.len()), ("attached", 1));
        for bad in [
            r#"{"op":"nope"}"#,
            r#"{"op":"ack","batch":3}"#,
            r#"{"op":"ack","batch":3,"results":[],"extra":1}"#,
            r#"{"op":"ack","batch":3,"results":[{"id":7,"ok":true,"load_ms":-1}]}"#,
            r#"{"op":"ack","batch":3,"results":[],"handled_ms":-0.5}"#,
            r#"{"op":"hello","api":{"module":"global","missing":[],"main_module_url":null,"main_module_sha256":null,"x":1}}"#,
            "not json",
        ] {
            assert!(matches!(ClientMessage::parse(bad), Err(ProtocolError::Malformed(_))), "{bad}");
        }
        let names: Vec<String> = (0..=MAX_API_NAMES).map(|i| format!("\"_f{i}\"")).collect();
        let crowded = format!(
            r#"{{"op":"hello","api":{{"module":"global","missing":[{}],"main_module_url":null,"main_module_sha256":null}}}}"#,
            names.join(",")
        );
        assert!(matches!(ClientMessage::parse(&crowded), Err(ProtocolError::Malformed(_))));
        let huge = format!(r#"{{"op":"ack","batch":1,"results":[],"x":"{}"}}"#, "a".repeat(MAX_CLIENT_MESSAGE_BYTES));
        assert_eq!(ClientMessage::parse(&huge), Err(ProtocolError::TooLarge(huge.len())));
    }
}
