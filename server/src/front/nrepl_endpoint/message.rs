//! Reading client requests: bencode from a stream into the codec's [`Message`], with a size
//! limit and bounded nesting. Unlike the client's strict `FrameDecoder`, dictionary keys may
//! come in any order, as older CIDER (`nrepl-bencode` before 1.x) and other clients send them.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::NreplServerError;
use crate::nrepl::{Message, Value};

/// Reads bencode values from a stream, never holding more than `limit` bytes of one message.
pub struct MessageReader<R> {
    inner: R,
    limit: usize,
    used: usize,
    peeked: Option<u8>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        MessageReader { inner, limit, used: 0, peeked: None }
    }

    /// The next message; `Ok(None)` at a clean end of stream (between messages).
    pub async fn next(&mut self) -> Result<Option<Message>, NreplServerError> {
        self.used = 0;
        let first = match self.byte().await {
            Ok(b) => b,
            Err(NreplServerError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        match self.value(first, 0).await? {
            Value::Dict(d) => Ok(Some(Message(d))),
            other => Err(NreplServerError::NotADict(kind(&other))),
        }
    }

    async fn byte(&mut self) -> Result<u8, NreplServerError> {
        if let Some(b) = self.peeked.take() {
            return Ok(b);
        }
        self.count(1)?;
        Ok(self.inner.read_u8().await?)
    }

    fn count(&mut self, n: usize) -> Result<(), NreplServerError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            return Err(NreplServerError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// A value whose first byte is `first`. Nesting is bounded, so hostile input cannot
    /// exhaust the stack.
    async fn value(&mut self, first: u8, depth: usize) -> Result<Value, NreplServerError> {
        if depth > MAX_DEPTH {
            return Err(NreplServerError::Malformed(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match first {
            b'i' => {
                let digits = self.until(b'e').await?;
                let text = String::from_utf8_lossy(&digits);
                text.parse().map(Value::Int).map_err(|_| NreplServerError::Malformed(format!("bad integer `{text}`")))
            }
            b'0'..=b'9' => {
                let mut digits = vec![first];
                digits.extend(self.until(b':').await?);
                let text = String::from_utf8_lossy(&digits);
                let len: usize =
                    text.parse().map_err(|_| NreplServerError::Malformed(format!("bad string length `{text}`")))?;
                self.count(len)?;
                let mut bytes = vec![0; len];
                self.inner.read_exact(&mut bytes).await?;
                Ok(Value::Str(String::from_utf8_lossy(&bytes).into_owned()))
            }
            b'l' => {
                let mut items = Vec::new();
                loop {
                    let b = self.byte().await?;
                    if b == b'e' {
                        return Ok(Value::List(items));
                    }
                    items.push(Box::pin(self.value(b, depth + 1)).await?);
                }
            }
            b'd' => {
                let mut dict = BTreeMap::new();
                loop {
                    let b = self.byte().await?;
                    if b == b'e' {
                        return Ok(Value::Dict(dict));
                    }
                    let Value::Str(key) = Box::pin(self.value(b, depth + 1)).await? else {
                        return Err(NreplServerError::Malformed("a dictionary key is not a string".into()));
                    };
                    let b = self.byte().await?;
                    let value = Box::pin(self.value(b, depth + 1)).await?;
                    dict.insert(key, value);
                }
            }
            other => Err(NreplServerError::Malformed(format!("unexpected byte 0x{other:02x}"))),
        }
    }

    /// Bytes up to (not including) `end`, at most 20 of them (an integer or a length).
    async fn until(&mut self, end: u8) -> Result<Vec<u8>, NreplServerError> {
        let mut out = Vec::new();
        loop {
            let b = self.byte().await?;
            if b == end {
                return Ok(out);
            }
            if out.len() >= 20 || !(b.is_ascii_digit() || (b == b'-' && out.is_empty())) {
                return Err(NreplServerError::Malformed(format!("unexpected byte 0x{b:02x} in a number")));
            }
            out.push(b);
        }
    }
}

const MAX_DEPTH: usize = 64;

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Int(_) => "an integer",
        Value::Str(_) => "a string",
        Value::List(_) => "a list",
        Value::Dict(_) => "a dictionary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &[u8], limit: usize) -> Vec<Result<Option<Message>, String>> {
        let mut reader = MessageReader::new(bytes, limit);
        let mut out = Vec::new();
        loop {
            let next = reader.next().await.map_err(|e| e.to_string());
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn round_trip_and_limits() {
        let msg = Message::op("eval").with("line", -3).with("status", vec![Value::from("done")]);
        let mut bytes = msg.encode().unwrap();
        bytes.extend(msg.encode().unwrap());
        let read = read_all(&bytes, 1024).await;
        assert_eq!(read, vec![Ok(Some(msg.clone())), Ok(Some(msg.clone())), Ok(None)]);
        let unsorted = read_all(b"d2:op4:eval4:code3:(f)e", 100).await;
        assert_eq!(unsorted[0], Ok(Some(Message::op("eval").with("code", "(f)"))));
        assert_eq!(read_all(&bytes, 10).await[0].as_ref().unwrap_err(), "message larger than the 10 byte limit");
        assert!(read_all(b"d2:op", 100).await[0].as_ref().unwrap_err().contains("end of file"));
        assert!(read_all(b"li1ee", 100).await[0].as_ref().unwrap_err().contains("a list"));
        assert!(read_all(b"hello", 100).await[0].as_ref().unwrap_err().contains("0x68"));
        assert!(read_all(b"d99999999999999999999999:x", 100).await[0].is_err());
        let deep = "l".repeat(1000);
        assert!(read_all(deep.as_bytes(), 10_000).await[0].as_ref().unwrap_err().contains("nested"));
    }
}
