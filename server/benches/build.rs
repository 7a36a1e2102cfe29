//! Build-stage timings, all in one run so the ratios are fair: stock `emcc -sSIDE_MODULE=1`
//! vs our emcc path vs the direct clang++ + wasm-ld path vs the resident build service for a
//! one-function patch in the jank fork's shape, a patch including <string>/<vector> with and
//! without the PCH, a cache hit (also with include dirs, watched and walked), and the service's
//! RSS growth over 1,000 builds. Prints p50 (and p90) in ms. Run: `cargo bench -p jank-hotpatch --bench build`.
//! Goals: clang <= 0.2x stock emcc and <= 45 ms; with PCH <= 90 ms; cache hit < 1 ms;
//! resident <= 0.15x clang, with the PCH <= 0.3x clang with the PCH, RSS growth <= 50 MB.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jank_hotpatch::config::{BuildSettings, Settings, Toolchain};
use jank_hotpatch::reader::Namespace;
use jank_hotpatch::side_module::{SideModuleBuilder, Tools};
use jank_hotpatch::stages::{Build, CompiledForm, FormKey, PatchId, PatchKind, VarName};

const RUNS: usize = 20;
/// Builds over which the build service's memory growth is measured.
const RSS_BUILDS: u64 = 1000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build").join(name)
}

fn form(file: &str, id: u64) -> CompiledForm {
    CompiledForm {
        patch_id: PatchId(id),
        cpp: std::fs::read_to_string(fixture(file)).expect("fixture"),
        var: VarName::new("demo.core", "ggg"),
        kind: PatchKind::Definition,
        warnings: Vec::new(),
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

    let resident = builder(&dir.join("resident"), Toolchain::Resident, &[]).await;
    assert_eq!(resident.tools(), Tools::Resident, "the build service is built and starts");
    let resident_p50 = measure("resident path (build service)", || async {
        resident.build(key, &one).await.expect("builds");
    })
    .await;
    let resident_no_pch = measure("<string>+<vector> patch, resident, no PCH", || async {
        resident.build(key, &strings).await.expect("builds");
    })
    .await;
    let resident_with_pch = builder(&dir.join("resident-pch"), Toolchain::Resident, &["<string>", "<vector>"]).await;
    let resident_pch_p50 = measure("<string>+<vector> patch, resident, PCH", || async {
        resident_with_pch.build(key, &strings).await.expect("builds");
    })
    .await;

    // A service of its own, so the memory of the bigger builds above does not hide growth.
    let fresh = builder(&dir.join("resident-rss"), Toolchain::Resident, &[]).await;
    let pid = fresh.resident_stats().and_then(|s| s.pid).expect("the service runs");
    let rss_started = rss_kb(pid);
    fresh.build(key, &one).await.expect("builds");
    let rss_before = rss_kb(pid);
    let split_before = fresh.resident_stats().expect("the service runs");
    for id in 0..RSS_BUILDS {
        // A new patch id each time: new file names, as in a session.
        let form = CompiledForm { patch_id: PatchId(10_000 + id), ..one.clone() };
        fresh.build(key, &form).await.expect("builds");
    }
    let rss_after = rss_kb(pid);
    assert_eq!(fresh.resident_stats().and_then(|s| s.pid), Some(pid), "one service did all the builds");
    let rss_growth_mb = (rss_after as f64 - rss_before as f64) / 1024.0;
    let split = fresh.resident_stats().expect("the service runs");
    let per_build_ms = |us: u64, before: u64| (us - before) as f64 / 1000.0 / RSS_BUILDS as f64;
    println!(
        "{:<44} {:>12.3} ms compile + {:.3} ms link (the service's own clocks, mean of {RSS_BUILDS})",
        "resident build, inside the service",
        per_build_ms(split.compile_us, split_before.compile_us),
        per_build_ms(split.link_us, split_before.link_us)
    );
    println!(
        "{:<44} {:>12.1} MB ({:.1} MB started, {:.1} MB after one build, {:.1} MB after {RSS_BUILDS} more)",
        format!("service RSS growth over {RSS_BUILDS} builds"),
        rss_growth_mb,
        rss_started as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );

    let hit = measure("cache hit", || async {
        clang.cached(key).await.expect("cached");
    })
    .await;
    let (hit_watched, hit_walked) = cache_hits_with_include_dirs(&dir, &one, key).await;

    println!();
    println!("clang / stock emcc  = {:.2}x (goal <= 0.2x)", clang_p50 / stock);
    println!("clang / emcc path   = {:.2}x", clang_p50 / emcc_p50);
    println!("PCH / no PCH        = {:.2}x ({pch_p50:.1} ms vs {no_pch:.1} ms, goal <= 90 ms)", pch_p50 / no_pch);
    println!("cache hit           = {hit:.3} ms (goal < 1 ms)");
    println!(
        "cache hit, build.includeDirs = the sysroot's headers: {hit_watched:.3} ms unchanged (watched), {hit_walked:.3} ms after a change (walked)"
    );
    println!(
        "resident / clang    = {:.2}x ({resident_p50:.1} ms vs {clang_p50:.1} ms, goal <= 0.15x)",
        resident_p50 / clang_p50
    );
    println!(
        "resident / clang, <string>+<vector>, no PCH = {:.2}x ({resident_no_pch:.1} ms vs {no_pch:.1} ms)",
        resident_no_pch / no_pch
    );
    println!(
        "resident / clang, <string>+<vector>, PCH    = {:.2}x ({resident_pch_p50:.1} ms vs {pch_p50:.1} ms, goal <= 0.3x)",
        resident_pch_p50 / pch_p50
    );
    println!("service RSS growth  = {rss_growth_mb:.1} MB over {RSS_BUILDS} builds (goal <= 50 MB)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cache hit with emscripten's sysroot headers (a copy: one is touched) as
/// `build.includeDirs`: the headers unchanged since the last lookup (the watch answers), and
/// one header changed before each lookup (the dirs are walked again). -> (watched, walked) p50.
async fn cache_hits_with_include_dirs(dir: &Path, form: &CompiledForm, key: FormKey) -> (f64, f64) {
    let cflags = std::process::Command::new("emcc").arg("--cflags").output().expect("emcc runs");
    let cflags = String::from_utf8_lossy(&cflags.stdout).to_string();
    let sysroot =
        cflags.split_whitespace().find_map(|flag| flag.strip_prefix("--sysroot=")).expect("emcc names its sysroot");
    let headers = dir.join("include");
    let copied = std::process::Command::new("cp")
        // Times kept: a header written in the last 2 s is read, not only stat'ed.
        .arg("-a")
        .arg(Path::new(sysroot).join("include"))
        .arg(&headers)
        .status()
        .expect("cp runs");
    assert!(copied.success());
    let files = std::process::Command::new("find").arg(&headers).args(["-type", "f"]).output().expect("find runs");
    let count = files.stdout.split(|b| *b == b'\n').filter(|line| !line.is_empty()).count();
    let settings = BuildSettings { include_dirs: vec![headers.clone()], ..Settings::default().build };
    let builder =
        SideModuleBuilder::new(&settings, &dir.join("cache-include-dirs")).await.expect("emscripten is installed");
    let built = builder.build(key, form).await.expect("builds");
    assert!(builder.cached(key).await.is_some_and(|hit| hit.bytes == built.bytes));
    let watched = measure(&format!("cache hit, {count} headers watched"), || async {
        builder.cached(key).await.expect("cached");
    })
    .await;
    let touched = headers.join("stdio.h");
    let walked = measure(&format!("cache hit, {count} headers walked"), || async {
        // Written with the same bytes and its time put back: the same stamp, so the walk runs
        // (the watch saw the write) and finds the entry.
        let bytes = std::fs::read(&touched).expect("stdio.h");
        let modified = std::fs::metadata(&touched).and_then(|m| m.modified()).expect("stdio.h's time");
        std::fs::write(&touched, bytes).expect("stdio.h written");
        let file = std::fs::File::options().write(true).open(&touched).expect("stdio.h opened");
        file.set_modified(modified).expect("stdio.h's time put back");
        builder.cached(key).await.expect("cached");
    })
    .await;
    (watched, walked)
}

/// Resident set size of a running process, in KiB; a process that is gone is an error.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the build service is running");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}
