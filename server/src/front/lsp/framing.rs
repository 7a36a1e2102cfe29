//! The JSON-RPC frames between the editor and the LSP server, checked before the server sees
//! them. tower-lsp-server stops reading its input for good after one frame it cannot decode,
//! so a single malformed message would deafen the sidecar: here each frame is checked, a bad
//! one is answered with a JSON-RPC error and dropped, and the server keeps serving.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Larger messages are refused (their body is skipped): 64 MB is far above any real request.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why reading from the editor stopped: not the clean end of its input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading from the editor failed: {0}")]
    Read(#[from] std::io::Error),
    #[error("the editor's input ended inside a message ({got} of {expected} bytes)")]
    Truncated { got: usize, expected: usize },
}

/// Why a frame was not passed on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad header line `{0}`")]
    Header(String),
    #[error("no Content-Length header")]
    NoLength,
    #[error("message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON-RPC 2.0 message: {0}")]
    NotJsonRpc(&'static str),
    #[error("no `$/` requests are served (`{0}` is a notification, or unknown)")]
    DollarRequest(String),
}

impl FrameError {
    /// The JSON-RPC error code: parse error for bytes that are not JSON, invalid request
    /// for JSON that is not a message.
    fn code(&self) -> i64 {
        match self {
            FrameError::NotJsonRpc(_) => -32600,
            FrameError::DollarRequest(_) => -32601,
            _ => -32700,
        }
    }
}

/// Copies frames from `input` to `server`, answering bad ones on `replies` (complete
/// frames). Returns when `input` ends; a read error or a message cut short is logged as such,
/// never taken for a clean end.
pub async fn filter_input<R, W>(input: R, mut server: W, replies: mpsc::UnboundedSender<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    loop {
        let frame = match read_frame(&mut input).await {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                reject(&replies, Value::Null, &error);
                continue;
            }
            Err(error) => {
                tracing::error!("{error}; the LSP server stops");
                return;
            }
        };
        match check(&frame) {
            Ok(()) => {
                let header = format!("Content-Length: {}\r\n\r\n", frame.len());
                if server.write_all(header.as_bytes()).await.is_err() || server.write_all(&frame).await.is_err() {
                    return;
                }
                let _ = server.flush().await;
            }
            Err((id, error)) => reject(&replies, id, &error),
        }
    }
}

fn reject(replies: &mpsc::UnboundedSender<Vec<u8>>, id: Value, error: &FrameError) {
    tracing::warn!("dropped a message from the editor: {error}");
    let body =
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": error.code(), "message": error.to_string()}}).to_string();
    let _ = replies.send(frame(body.as_bytes()));
}

/// `Content-Length` framing of a body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// One frame's body; `Ok(Ok(None))` at the clean end of the input. A bad header or an
/// oversized body is a `FrameError` after which reading resumes at the next frame; an
/// `InputError` ends the input.
async fn read_frame<R: AsyncBufReadExt + Unpin>(
    input: &mut R,
) -> Result<Result<Option<Vec<u8>>, FrameError>, InputError> {
    let mut length = None;
    let mut bad_header = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            if length.is_some() || bad_header.is_some() {
                return Err(InputError::Truncated { got: 0, expected: length.unwrap_or(0) });
            }
            return Ok(Ok(None));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if length.is_none() && bad_header.is_none() {
                // Blank lines between frames are tolerated.
                continue;
            }
            break;
        }
        match text.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("content-length") => match value.trim().parse::<usize>() {
                Ok(n) => length = Some(n),
                Err(_) => bad_header = Some(text.to_string()),
            },
            Some((name, _)) if name.eq_ignore_ascii_case("content-type") => {}
            _ => bad_header = Some(text.chars().take(80).collect()),
        }
    }
    if let Some(header) = bad_header {
        return Ok(Err(FrameError::Header(header)));
    }
    let Some(length) = length else { return Ok(Err(FrameError::NoLength)) };
    if length > MAX_MESSAGE_BYTES {
        let skipped = tokio::io::copy(&mut (&mut *input).take(length as u64), &mut tokio::io::sink()).await?;
        if skipped < length as u64 {
            return Err(InputError::Truncated { got: skipped as usize, expected: length });
        }
        return Ok(Err(FrameError::TooLarge(length)));
    }
    let mut body = Vec::with_capacity(length);
    let got = (&mut *input).take(length as u64).read_to_end(&mut body).await?;
    if got < length {
        return Err(InputError::Truncated { got, expected: length });
    }
    Ok(Ok(Some(body)))
}

/// Whether tower-lsp-server will decode this body; if not, the id to answer and why.
fn check(body: &[u8]) -> Result<(), (Value, FrameError)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| (Value::Null, FrameError::NotJson(e.to_string())))?;
    let Some(object) = value.as_object() else {
        return Err((Value::Null, FrameError::NotJsonRpc("not an object")));
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let id_ok = match &id {
        Value::Null | Value::String(_) => true,
        Value::Number(n) => n.is_i64(),
        _ => false,
    };
    let answer_id = if id_ok { id.clone() } else { Value::Null };
    let fail = |why| Err((answer_id.clone(), FrameError::NotJsonRpc(why)));
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return fail("`jsonrpc` must be \"2.0\"");
    }
    if !id_ok {
        return fail("`id` must be an integer, a string or null");
    }
    match object.get("method") {
        // tower-lsp-server drops its MethodNotFound answer to any `$/` method, which would
        // leave a `$/` request unanswered for ever: answer it here, as LSP requires.
        Some(Value::String(method)) if method.starts_with("$/") && !id.is_null() => {
            Err((id.clone(), FrameError::DollarRequest(method.clone())))
        }
        Some(Value::String(_)) => match object.get("params") {
            None | Some(Value::Object(_)) | Some(Value::Array(_)) | Some(Value::Null) => Ok(()),
            Some(_) => fail("`params` must be an object or an array"),
        },
        Some(_) => fail("`method` must be a string"),
        None if object.contains_key("id") && (object.contains_key("result") || object.contains_key("error")) => {
            match object.get("error") {
                None => Ok(()),
                Some(e)
                    if e.get("code").is_some_and(Value::is_i64) && e.get("message").is_some_and(Value::is_string) =>
                {
                    Ok(())
                }
                Some(_) => fail("`error` must have an integer `code` and a string `message`"),
            }
        }
        None => fail("neither a request, a notification nor a response"),
    }
}

/// Copies the server's frames to `output`, putting the rejections in between whole frames.
pub async fn merge_output<R, W>(server: R, mut output: W, mut replies: mpsc::UnboundedReceiver<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut server = BufReader::new(server);
    loop {
        tokio::select! {
            frame = read_frame(&mut server) => match frame {
                Ok(Ok(Some(body))) => {
                    if output.write_all(&self::frame(&body)).await.is_err() {
                        return;
                    }
                }
                Ok(Ok(None)) => return,
                Ok(Err(e)) => tracing::error!("the LSP server wrote a bad frame: {e}"),
                Err(e) => {
                    tracing::error!("reading the LSP server's output failed: {e}");
                    return;
                }
            },
            Some(reply) = replies.recv() => {
                if output.write_all(&reply).await.is_err() {
                    return;
                }
            }
        }
        let _ = output.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_can_decode_passes() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"$/setTrace","params":{"value":"off"}}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":null}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#,
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_it_cannot_is_answered_with_the_id_when_there_is_one() {
        let cases = [
            ("{this is not json", Value::Null, -32700),
            ("[1,2]", Value::Null, -32600),
            (r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#, json!(7), -32600),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, Value::Null, -32600),
            (r#"{"jsonrpc":"2.0","id":8,"method":42}"#, json!(8), -32600),
            (r#"{"jsonrpc":"2.0","id":9,"method":"x","params":"str"}"#, json!(9), -32600),
            (r#"{"jsonrpc":"2.0"}"#, Value::Null, -32600),
            (r#"{"jsonrpc":"2.0","id":4,"method":"$/setTrace","params":{}}"#, json!(4), -32601),
        ];
        for (body, id, code) in cases {
            let (got_id, error) = check(body.as_bytes()).unwrap_err();
            assert_eq!((got_id, error.code()), (id, code), "{body}");
        }
    }

    #[tokio::test]
    async fn bad_headers_and_huge_bodies_are_skipped_and_reading_goes_on() {
        let good = r#"{"jsonrpc":"2.0","method":"initialized"}"#;
        let mut input = Vec::new();
        input.extend_from_slice(b"Nonsense here\r\n\r\n");
        input.extend_from_slice(&frame(b"{oops"));
        input.extend_from_slice(&frame(good.as_bytes()));
        let (server_in, mut server_out) = tokio::io::duplex(1 << 16);
        let (tx, mut rx) = mpsc::unbounded_channel();
        filter_input(&input[..], server_in, tx).await;
        let mut passed = String::new();
        server_out.read_to_string(&mut passed).await.unwrap();
        assert_eq!(passed, String::from_utf8(frame(good.as_bytes())).unwrap());
        let rejections: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(rejections.len(), 2);
        assert!(String::from_utf8_lossy(&rejections[0]).contains("bad header line"));
    }

    #[tokio::test]
    async fn a_message_cut_short_is_not_a_clean_end() {
        let mut input = &b"Content-Length: 40\r\n\r\n{\"jsonrpc\":"[..];
        let error = read_frame(&mut input).await.expect_err("a truncated body is an input error");
        assert!(matches!(error, InputError::Truncated { got: 11, expected: 40 }), "{error}");
        let mut header_only = &b"Content-Length: 40\r\n"[..];
        assert!(read_frame(&mut header_only).await.is_err(), "input ending inside the headers");
        let mut empty = &b""[..];
        assert!(matches!(read_frame(&mut empty).await, Ok(Ok(None))), "nothing at all is the clean end");
    }
}
