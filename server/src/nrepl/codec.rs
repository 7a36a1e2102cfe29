//! Bencode for nREPL: our own small [`Value`] / [`Message`] types, encoding with `bendy`, and
//! a stream [`FrameDecoder`] that cuts complete messages out of a byte stream (partial reads,
//! garbage and oversized messages handled before anything is allocated for them).
//!
//! `bendy` is used here and nowhere else: the rest of the crate sees only these types.

use std::collections::BTreeMap;
use std::fmt;

use bendy::decoding::{Decoder, Object};
use bendy::encoding::{Encoder, SingleItemEncoder};

use super::NreplError;

/// The largest message accepted by default (a compile reply carries the whole C++).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of lists and dictionaries accepted. nREPL messages are a few levels deep;
/// decoding is recursive, so a deeper (hostile) message must be refused before it exhausts
/// the stack.
pub const MAX_DEPTH: usize = 64;

/// A bencode value. Byte strings are kept as text (nREPL strings are UTF-8; anything else is
/// decoded lossily).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Dict(BTreeMap<String, Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

impl From<Message> for Value {
    fn from(message: Message) -> Self {
        Value::Dict(message.0)
    }
}

/// One nREPL message: a dictionary with string keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message(pub BTreeMap<String, Value>);

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    /// A request for `op`.
    pub fn op(op: &str) -> Self {
        Message::new().with("op", op)
    }

    /// Builder: sets `key`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    /// Builder: sets `key` when `value` is there.
    pub fn with_opt<V: Into<Value>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// An integer field; numbers sent as decimal strings (jank sends `line` as a string) count.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn get_list(&self, key: &str) -> Option<&[Value]> {
        match self.get(key)? {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn get_dict(&self, key: &str) -> Option<&BTreeMap<String, Value>> {
        match self.get(key)? {
            Value::Dict(map) => Some(map),
            _ => None,
        }
    }

    /// The strings of `status`.
    pub fn statuses(&self) -> impl Iterator<Item = &str> {
        self.get_list("status").unwrap_or_default().iter().filter_map(Value::as_str)
    }

    pub fn has_status(&self, status: &str) -> bool {
        self.statuses().any(|s| s == status)
    }

    /// The request id this message answers (or carries).
    pub fn id(&self) -> Option<&str> {
        self.get_str("id")
    }

    /// The message as bencode bytes.
    pub fn encode(&self) -> Result<Vec<u8>, NreplError> {
        let mut encoder = Encoder::new();
        encoder
            .emit_with(|e| emit_dict(e, &self.0))
            .map_err(|e| NreplError::Protocol(format!("cannot encode a message: {e}")))?;
        encoder.get_output().map_err(|e| NreplError::Protocol(format!("cannot encode a message: {e}")))
    }

    /// Decodes exactly one complete message.
    pub fn decode(bytes: &[u8]) -> Result<Message, NreplError> {
        let mut decoder = Decoder::new(bytes).with_max_depth(MAX_DEPTH);
        let object = decoder
            .next_object()
            .map_err(|e| garbage(bytes, &e))?
            .ok_or_else(|| NreplError::Protocol("empty message".into()))?;
        match from_object(object).map_err(|e| garbage(bytes, &e))? {
            Value::Dict(map) => Ok(Message(map)),
            other => Err(NreplError::Protocol(format!("expected a dictionary, got {}", short(&format!("{other:?}"))))),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

fn emit_value(e: SingleItemEncoder, value: &Value) -> Result<(), bendy::encoding::Error> {
    match value {
        Value::Int(i) => e.emit_int(*i),
        Value::Str(s) => e.emit_str(s),
        Value::List(items) => e.emit_list(|l| items.iter().try_for_each(|item| l.emit_with(|e| emit_value(e, item)))),
        Value::Dict(map) => emit_dict(e, map),
    }
}

fn emit_dict(e: SingleItemEncoder, map: &BTreeMap<String, Value>) -> Result<(), bendy::encoding::Error> {
    // BTreeMap iterates in byte order of the keys, which is the order bencode requires.
    e.emit_dict(|mut d| map.iter().try_for_each(|(k, v)| d.emit_pair_with(k.as_bytes(), |e| emit_value(e, v))))
}

fn from_object(object: Object) -> Result<Value, bendy::decoding::Error> {
    Ok(match object {
        Object::Integer(digits) => Value::Int(digits.parse().map_err(bendy::decoding::Error::malformed_content)?),
        Object::Bytes(bytes) => Value::Str(String::from_utf8_lossy(bytes).into_owned()),
        Object::List(mut list) => {
            let mut items = Vec::new();
            while let Some(item) = list.next_object()? {
                items.push(from_object(item)?);
            }
            Value::List(items)
        }
        Object::Dict(mut dict) => {
            let mut map = BTreeMap::new();
            while let Some((key, item)) = dict.next_pair()? {
                let key = String::from_utf8_lossy(key).into_owned();
                map.insert(key, from_object(item)?);
            }
            Value::Dict(map)
        }
    })
}

fn garbage(bytes: &[u8], error: &bendy::decoding::Error) -> NreplError {
    NreplError::Protocol(format!("{error} in {}", short(&String::from_utf8_lossy(bytes))))
}

fn short(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Cuts complete bencode messages out of a byte stream. Feed it what the socket gives, in any
/// pieces; it keeps the unfinished tail. It only scans structure (so each byte is looked at
/// about once, however the message is split) and refuses a message as soon as it is known to
/// be larger than the limit, before its bytes arrive.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// How far the current message has been scanned.
    scanned: usize,
    /// Open lists and dictionaries at `scanned`.
    depth: usize,
    max_message_bytes: usize,
}

impl FrameDecoder {
    pub fn new(max_message_bytes: usize) -> Self {
        FrameDecoder { buffer: Vec::new(), scanned: 0, depth: 0, max_message_bytes }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a returned message.
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed. After an error the
    /// stream cannot be trusted any more: drop the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, NreplError> {
        loop {
            let Some(&byte) = self.buffer.get(self.scanned) else { return Ok(None) };
            let token_end = match byte {
                b'd' | b'l' if self.depth < MAX_DEPTH => {
                    self.depth += 1;
                    self.scanned + 1
                }
                b'e' if self.depth > 0 => {
                    self.depth -= 1;
                    self.scanned + 1
                }
                b'i' => match self.find(b'e', self.scanned + 1, 21)? {
                    Some(end) => end + 1,
                    None => return Ok(None),
                },
                b'0'..=b'9' => {
                    let Some(colon) = self.find(b':', self.scanned, 20)? else { return Ok(None) };
                    let length: usize = std::str::from_utf8(&self.buffer[self.scanned..colon])
                        .ok()
                        .and_then(|digits| digits.parse().ok())
                        .ok_or_else(|| self.garbage_at(self.scanned))?;
                    let end = colon + 1 + length;
                    self.check_size(end)?;
                    if end > self.buffer.len() {
                        return Ok(None);
                    }
                    end
                }
                _ => return Err(self.garbage_at(self.scanned)),
            };
            self.check_size(token_end)?;
            self.scanned = token_end;
            if self.depth == 0 {
                let rest = self.buffer.split_off(self.scanned);
                let bytes = std::mem::replace(&mut self.buffer, rest);
                self.scanned = 0;
                return Message::decode(&bytes).map(Some);
            }
        }
    }

    /// The position of `needle` at or after `from`, looking at most `max` bytes ahead.
    fn find(&self, needle: u8, from: usize, max: usize) -> Result<Option<usize>, NreplError> {
        let window = &self.buffer[from.min(self.buffer.len())..self.buffer.len().min(from + max)];
        match window.iter().position(|&b| b == needle) {
            Some(i) => Ok(Some(from + i)),
            None if window.len() >= max => Err(self.garbage_at(from)),
            None => Ok(None),
        }
    }

    fn check_size(&self, end: usize) -> Result<(), NreplError> {
        if end > self.max_message_bytes {
            return Err(NreplError::TooLarge { limit: self.max_message_bytes });
        }
        Ok(())
    }

    fn garbage_at(&self, at: usize) -> NreplError {
        let tail = &self.buffer[at..self.buffer.len().min(at + 40)];
        NreplError::Protocol(format!("not bencode at byte {at}: {}", short(&String::from_utf8_lossy(tail))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message::op("eval")
            .with("code", "(+ 1 2)")
            .with("line", 3)
            .with("status", vec![Value::from("done"), Value::from("error")])
            .with("nested", Message::new().with("a", "b"))
    }

    #[test]
    fn round_trip() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Message::decode(&bytes).unwrap(), sample());
        assert!(sample().has_status("error"));
        assert_eq!(sample().get_int("line"), Some(3));
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let deep = [vec![b'd'; 1], b"1:a".to_vec(), vec![b'l'; 2_000], vec![b'e'; 2_001]].concat();
        assert!(Message::decode(&deep).is_err());
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_MESSAGE_BYTES);
        decoder.extend(&deep);
        assert!(decoder.next_message().is_err());
    }

    #[test]
    fn frames_split_anywhere() {
        let one = sample().encode().unwrap();
        let mut stream = one.clone();
        stream.extend_from_slice(&one);
        for cut in 0..stream.len() {
            let mut decoder = FrameDecoder::new(1024);
            decoder.extend(&stream[..cut]);
            let mut got = Vec::new();
            while let Some(m) = decoder.next_message().unwrap() {
                got.push(m);
            }
            decoder.extend(&stream[cut..]);
            while let Some(m) = decoder.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got, vec![sample(), sample()], "cut at {cut}");
            assert_eq!(decoder.pending_bytes(), 0);
        }
    }

    #[test]
    fn garbage_and_size() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.extend(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(decoder.next_message(), Err(NreplError::Protocol(_))));

        let mut decoder = FrameDecoder::new(100);
        decoder.extend(b"d4:code999999:");
        assert!(matches!(decoder.next_message(), Err(NreplError::TooLarge { limit: 100 })));

        let mut decoder = FrameDecoder::new(1024);
        decoder.extend(b"i12345678901234567890123456e");
        assert!(matches!(decoder.next_message(), Err(NreplError::Protocol(_))));

        let mut decoder = FrameDecoder::new(1024);
        decoder.extend(b"d1:b1:x1:a1:ye");
        assert!(matches!(decoder.next_message(), Err(NreplError::Protocol(_))), "unsorted keys");
    }
}
