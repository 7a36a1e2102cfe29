//! nREPL client and compile-stage timings. Prints p50 (and p90):
//! - the client's own cost: encoding a `wasm-compile-patch` request, and decoding a reply
//!   carrying 10 KB of C++ (goal: <= 0.1 ms together);
//! - a compile round trip through `JankCompiler` on the stand-in jank (`load-file` once, then
//!   `wasm-compile-patch` per form), and a bare `describe` round trip for comparison.
//!
//! Run: `cargo build -p jank-standin && cargo bench -p jank-hotpatch --bench nrepl`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use jank_hotpatch::compile::JankCompiler;
use jank_hotpatch::config::NreplSettings;
use jank_hotpatch::nrepl::{Client, ClientOptions, FrameDecoder, Message, DEFAULT_MAX_MESSAGE_BYTES};
use jank_hotpatch::reader::{FormKind, Namespace, NsDecl};
use jank_hotpatch::stages::{Compile, CompileRequest, FormSource, LineCol, PatchId, SourceContext};
use test_support::standin::Standin;

const RUNS: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<f64>, unit: &str) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{label:<48} p50 {:>9.4} {unit}   p90 {:>9.4} {unit}   (n={})",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        samples.len()
    );
}

fn codec() {
    let cpp = "  void *tmp_0 = jank_box_integer(49);\n".repeat(10 * 1024 / 38);
    let reply = Message::new()
        .with("id", "42")
        .with("session", "9f3c1c1e-5d0e-4c55-a1b1-4b1c2f8c9d00")
        .with("cpp-code", cpp.as_str())
        .with("var-name", "ggg")
        .with("ns-name", "demo.core")
        .with("patch-id", "7");
    let bytes = reply.encode().expect("encode");
    let (mut encode, mut decode) = (Vec::new(), Vec::new());
    for id in 0..2000u64 {
        let started = Instant::now();
        let request = Message::op("wasm-compile-patch")
            .with("id", id.to_string())
            .with("session", "9f3c1c1e-5d0e-4c55-a1b1-4b1c2f8c9d00")
            .with("code", "(defn ggg [v] (+ 49 v))")
            .with("ns", "demo.core")
            .with("patch-id", id.to_string())
            .encode()
            .expect("encode");
        encode.push(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(request);

        let started = Instant::now();
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_MESSAGE_BYTES);
        // As a socket delivers it: in pieces.
        for piece in bytes.chunks(4096) {
            decoder.extend(piece);
            if let Some(message) = decoder.next_message().expect("decode") {
                std::hint::black_box(message);
            }
        }
        decode.push(started.elapsed().as_secs_f64() * 1e3);
    }
    println!("reply size: {} bytes", bytes.len());
    report("client: encode a wasm-compile-patch request", encode, "ms");
    report("client: decode a 10 KB C++ reply (4 KB reads)", decode, "ms");
}

/// The stand-in, the release build when there is one (the compile is measured, not the
/// stand-in's debug build).
fn standin(dir: &Path) -> Standin {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let program = ["release", "debug"].iter().map(|p| target.join(p).join("jank-standin")).find(|p| p.exists());
    let program = program.expect("jank-standin is missing: run `cargo build -p jank-standin` first");
    println!("stand-in: {}", program.display());
    Standin::spawn(&program, dir, &[], Stdio::null()).unwrap_or_else(|why| panic!("{why}"))
}

fn request(dir: &Path, id: u64) -> CompileRequest {
    let ns = "(ns demo.core\n  (:require [clojure.set :as set]))";
    let form = "(defn ggg [v] (+ 49 v))";
    let text = format!("{ns}\n\n{form}\n");
    CompileRequest {
        patch_id: PatchId(id),
        source: SourceContext {
            path: dir.join("core.jank"),
            text: Arc::from(text.as_str()),
            namespace: Namespace::Declared(NsDecl {
                name: "demo.core".into(),
                docstring: None,
                requires: Vec::new(),
                range: 0..ns.len(),
                normalized: ns.split_whitespace().collect::<Vec<_>>().join(" "),
            }),
        },
        form: FormSource {
            text: form.into(),
            kind: FormKind::Def("defn".into()),
            name: Some("ggg".into()),
            range: ns.len() + 2..ns.len() + 2 + form.len(),
            start: LineCol { line: 3, column: 0 },
        },
    }
}

async fn round_trips() {
    let dir: PathBuf = std::env::temp_dir().join(format!("jank-hotpatch-bench-nrepl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let standin = standin(&dir);
    let port = standin.port;
    let jank = JankCompiler::new(NreplSettings { endpoint: None, timeout_ms: 10_000 }, dir.clone());

    let started = Instant::now();
    jank.compile(&request(&dir, 0)).await.expect("first compile");
    println!(
        "{:<48} {:>9.3} ms",
        "first compile (connect, clone, describe, load-file)",
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut samples = Vec::new();
    for id in 1..=RUNS as u64 {
        let started = Instant::now();
        jank.compile(&request(&dir, id)).await.expect("compile");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    report("compile round trip (JankCompiler, stand-in)", samples, "ms");

    let client = Client::connect(&format!("127.0.0.1:{port}"), ClientOptions::default()).await.expect("connect");
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        client.describe().await.expect("describe");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    report("describe round trip (client, stand-in)", samples, "ms");
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    codec();
    tokio::runtime::Runtime::new().expect("tokio").block_on(round_trips());
}
