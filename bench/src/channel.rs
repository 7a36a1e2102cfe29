//! The delivery of the ways that have no sidecar (the floor, emcc): the bench serves one
//! WebSocket on loopback, as the original exploration's Node server did, and each page gets a
//! small script (through DevTools) that connects to it, writes every module it receives to
//! the in-memory file system and loads it with the runtime's registry call,
//! `jank_hot_reload_load_patch` (dlopen + dlsym + bind), timing that call, and answers.
//! Nothing of our page client takes part.
//!
//! Owns: that socket, the script and the frame format (`u32` big-endian header length, JSON
//! `{"id","entry"}`, module bytes). Must not build anything.

use std::time::Instant;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use test_support::cdp::Page;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::BenchError;

/// What one module's trip to every page cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delivered {
    /// From the first byte sent to the last ack read, minus the slowest page's load.
    pub deliver_ms: f64,
    /// The slowest page's load, as the page timed it.
    pub load_ms: f64,
}

/// One socket per page.
pub struct Channel {
    sockets: Vec<WebSocketStream<TcpStream>>,
}

impl Channel {
    /// Connects every page in `pages` to a fresh loopback socket.
    pub async fn open(pages: &[Page]) -> Result<Channel, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BenchError::io("listen on a loopback port for the pages".into(), e))?;
        let port = listener.local_addr().map_err(|e| BenchError::io("read the listening port".into(), e))?.port();
        let script = page_script(port);
        let mut sockets = Vec::with_capacity(pages.len());
        for (i, page) in pages.iter().enumerate() {
            let connect = page.try_eval(&script);
            let accept = async {
                let (stream, _) =
                    listener.accept().await.map_err(|e| BenchError::io("accept a page's connection".into(), e))?;
                // Small frames and acks: do not let Nagle's algorithm hold them back.
                stream.set_nodelay(true).map_err(|e| BenchError::io("set TCP_NODELAY".into(), e))?;
                tokio_tungstenite::accept_async(stream)
                    .await
                    .map_err(|e| BenchError::Cdp(format!("page {}: WebSocket handshake: {e}", i + 1)))
            };
            let (connected, socket) = tokio::join!(connect, accept);
            connected.map_err(|e| BenchError::Cdp(format!("page {}: the delivery script: {e}", i + 1)))?;
            sockets.push(socket?);
        }
        Ok(Channel { sockets })
    }

    /// Sends the module to every page and waits for every page's ack; a page that did not
    /// load it is an error.
    pub async fn deliver(&mut self, id: u64, entry: &str, module: &[u8]) -> Result<Delivered, BenchError> {
        let frame = frame(id, entry, module);
        let started = Instant::now();
        for socket in &mut self.sockets {
            socket.send(Message::binary(frame.clone())).await.map_err(|e| BenchError::Cdp(format!("send: {e}")))?;
        }
        let mut load_ms: f64 = 0.0;
        for (i, socket) in self.sockets.iter_mut().enumerate() {
            let ack = loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => break text.to_string(),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(BenchError::Cdp(format!("page {}: {e}", i + 1))),
                    None => return Err(BenchError::NotApplied(format!("page {} closed its socket", i + 1))),
                }
            };
            load_ms = load_ms
                .max(page_load_ms(&ack, id).map_err(|e| BenchError::NotApplied(format!("page {}: {e}", i + 1)))?);
        }
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Delivered { deliver_ms: (elapsed - load_ms).max(0.0), load_ms })
    }
}

fn frame(id: u64, entry: &str, module: &[u8]) -> Vec<u8> {
    let header = json!({"id": id, "entry": entry}).to_string();
    let mut frame = Vec::with_capacity(4 + header.len() + module.len());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(module);
    frame
}

/// The page's load time from its ack of module `id`, or why the page did not load it.
fn page_load_ms(ack: &str, id: u64) -> Result<f64, String> {
    let ack: Value = serde_json::from_str(ack).map_err(|e| format!("an ack that is not JSON ({e}): {ack}"))?;
    if ack["id"].as_u64() != Some(id) {
        return Err(format!("acked {} while module {id} was on its way", ack["id"]));
    }
    if ack["ok"] != json!(true) {
        return Err(format!("did not load module {id}: {}", ack["error"]));
    }
    ack["load_ms"].as_f64().ok_or_else(|| format!("an ack without load_ms: {ack}"))
}

/// The page's side: connect, then load each module as the original exploration's client did.
fn page_script(port: u16) -> String {
    format!(
        r#"new Promise((resolve, reject) => {{
  const ws = new WebSocket('ws://127.0.0.1:{port}/');
  ws.binaryType = 'arraybuffer';
  let loads = 0;
  ws.onopen = () => resolve(true);
  ws.onerror = () => reject(new Error('cannot connect to the bench on port {port}'));
  ws.onmessage = (event) => {{
    const length = new DataView(event.data).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data, 4, length)));
    const bytes = new Uint8Array(event.data, 4 + length);
    const M = window.Module;
    const path = '/bench_patch_' + header.id + '_' + ++loads + '.wasm';
    const ack = {{ id: header.id, ok: false }};
    const started = performance.now();
    try {{
      M.FS.writeFile(path, bytes);
      const rc = M.ccall('jank_hot_reload_load_patch', 'number', ['string', 'string'], [path, header.entry]);
      ack.load_ms = performance.now() - started;
      ack.ok = rc === 0;
      if (rc !== 0) ack.error = M.UTF8ToString(M._jank_hot_reload_last_error());
    }} catch (e) {{
      ack.error = String((e && e.message) || e);
    }}
    ws.send(JSON.stringify(ack));
  }};
}})"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_header_then_the_module() {
        let bytes = frame(7, "jank_patch_symbols_7", b"\0asm");
        let length = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[4..4 + length]).unwrap();
        assert_eq!(header, json!({"id": 7, "entry": "jank_patch_symbols_7"}));
        assert_eq!(&bytes[4 + length..], b"\0asm");
    }

    #[test]
    fn an_ack_counts_only_when_the_page_loaded_that_module() {
        assert_eq!(page_load_ms(r#"{"id":7,"ok":true,"load_ms":0.5}"#, 7), Ok(0.5));
        assert!(page_load_ms(r#"{"id":7,"ok":false,"error":"dlopen failed"}"#, 7)
            .unwrap_err()
            .contains("dlopen failed"));
        assert!(page_load_ms(r#"{"id":6,"ok":true,"load_ms":0.5}"#, 7).unwrap_err().contains("acked 6"));
        assert!(page_load_ms(r#"{"id":7,"ok":true}"#, 7).unwrap_err().contains("without load_ms"));
        assert!(page_load_ms("nope", 7).is_err());
    }
}
