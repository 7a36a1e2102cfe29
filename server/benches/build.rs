//! Build-stage timings, all in one run so the ratios are fair: stock `emcc -sSIDE_MODULE=1`
//! vs our emcc path vs the direct clang++ + wasm-ld path for a one-function patch in the
//! jank fork's shape, a patch including <string>/<vector> with and without the PCH, and a
//! cache hit. Prints p50 (and p90) in ms. Run: `cargo bench -p jank-hotpatch --bench build`.
//! Goals: clang <= 0.2x stock emcc and <= 45 ms; with PCH <= 90 ms; cache hit < 1 ms.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jank_hotpatch::build::SideModuleBuilder;
use jank_hotpatch::config::{BuildSettings, Settings, Toolchain};
use jank_hotpatch::reader::Namespace;
use jank_hotpatch::stages::{Build, CompiledForm, FormKey, PatchId, PatchKind, VarName};

const RUNS: usize = 20;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build").join(name)
}

fn form(file: &str, id: u64) -> CompiledForm {
    CompiledForm {
        patch_id: PatchId(id),
        cpp: std::fs::read_to_string(fixture(file)).expect("fixture"),
        var: VarName::new("demo.core", "ggg"),
        kind: PatchKind::Definition,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure<F, Fut>(label: &str, mut run: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    run().await; // warm-up: page cache, PCH on disk
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        run().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let p50 = percentile(&times, 0.5);
    println!("{label:<44} p50 {p50:>8.3} ms   p90 {:>8.3} ms", percentile(&times, 0.9));
    p50
}

async fn builder(cache: &Path, toolchain: Toolchain, pch_headers: &[&str]) -> SideModuleBuilder {
    let settings = BuildSettings {
        toolchain,
        pch_headers: pch_headers.iter().map(|h| h.to_string()).collect(),
        ..Settings::default().build
    };
    SideModuleBuilder::new(&settings, cache).await.expect("emscripten is installed")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("jank-hotpatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let one = form("ggg_7.cpp", 7);
    let strings = form("strings_9.cpp", 9);
    let key = FormKey::of("(defn ggg [v] (+ 49 v))", &Namespace::Missing);

    let stock_out = dir.join("stock.wasm");
    let stock = measure("stock emcc -sSIDE_MODULE=1 (stock env)", || async {
        let status = tokio::process::Command::new("emcc")
            .args(["-sSIDE_MODULE=1", "-O0", "-fPIC"])
            .arg(fixture("ggg_7.cpp"))
            .arg("-o")
            .arg(&stock_out)
            .env_remove("NODE_PATH")
            .env_remove("EMSDK_PYTHON")
            .status()
            .await
            .expect("emcc runs");
        assert!(status.success());
    })
    .await;

    let emcc = builder(&dir.join("emcc"), Toolchain::Emcc, &[]).await;
    let emcc_p50 = measure("emcc path (SideModuleBuilder)", || async {
        emcc.build(key, &one).await.expect("builds");
    })
    .await;

    let clang = builder(&dir.join("clang"), Toolchain::Clang, &[]).await;
    let clang_p50 = measure("clang path (clang++ + wasm-ld)", || async {
        clang.build(key, &one).await.expect("builds");
    })
    .await;

    let no_pch = measure("<string>+<vector> patch, clang, no PCH", || async {
        clang.build(key, &strings).await.expect("builds");
    })
    .await;

    let started = Instant::now();
    let with_pch = builder(&dir.join("pch"), Toolchain::Clang, &["<string>", "<vector>"]).await;
    println!(
        "{:<44} {:>12.3} ms (probe + PCH, once)",
        "builder start with PCH",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let pch_p50 = measure("<string>+<vector> patch, clang, PCH", || async {
        with_pch.build(key, &strings).await.expect("builds");
    })
    .await;

    let hit = measure("cache hit", || async {
        clang.cached(key).await.expect("cached");
    })
    .await;

    println!();
    println!("clang / stock emcc  = {:.2}x (goal <= 0.2x)", clang_p50 / stock);
    println!("clang / emcc path   = {:.2}x", clang_p50 / emcc_p50);
    println!("PCH / no PCH        = {:.2}x ({pch_p50:.1} ms vs {no_pch:.1} ms, goal <= 90 ms)", pch_p50 / no_pch);
    println!("cache hit           = {hit:.3} ms (goal < 1 ms)");
    let _ = std::fs::remove_dir_all(&dir);
}
