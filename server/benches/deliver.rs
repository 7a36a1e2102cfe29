//! Deliver and load timings in real headless Chromium, on the demo page and the stand-in
//! main module, with side modules built by the real toolchain:
//! - a small patch: the page's own load time (write + dlopen + rebind) and the end-to-end
//!   deliver time, p50/p90 (goal: load p50 <= 2 ms);
//! - the same patches broadcast to 1 page and to 10 pages (goal: +<= 10 ms at p50);
//! - 1,000 successive patches of one form: growth of the page's JS heap and wasm memory,
//!   the renderer's RSS, and the sidecar's RSS.
//!
//! Run: `cargo bench -p jank-hotpatch --bench deliver`. Prints numbers; asserts nothing.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::stream::{self, StreamExt};
use jank_hotpatch::deliver::AppServer;
use jank_hotpatch::stages::{Deliver, Patch};
use support::app::{app_root, app_settings, int, Defn, Modules};
use test_support::cdp::{rss_kib, Browser, Page};

const RUNS: usize = 60;
const SUCCESSIVE: u64 = 1_000;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn line(label: &str, values: &[f64]) {
    println!(
        "{label:<44} p50 {:>8.3} ms   p90 {:>8.3} ms   (n={})",
        percentile(values, 0.5),
        percentile(values, 0.9),
        values.len()
    );
}

/// `count` patches of demo.core/speed with ids from `first`, built two at a time.
async fn speed_patches(modules: &Modules, first: u64, count: u64) -> Vec<Patch> {
    stream::iter(first..first + count)
        .map(|id| modules.defn(id, Defn::new("speed", &[], int((id % 7) as i64 + 1))))
        .buffered(2)
        .collect()
        .await
}

/// Delivers each patch alone; returns (page load ms, wall ms) per patch.
async fn deliver_each(server: &AppServer, patches: Vec<Patch>, pages: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut load, mut wall) = (Vec::new(), Vec::new());
    for patch in patches {
        let started = Instant::now();
        let delivery = server.deliver(vec![patch]).await.expect("delivered");
        assert_eq!(delivery.applied, pages, "{:?}", delivery.failures);
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        load.push(delivery.load_ms);
    }
    (load, wall)
}

/// RUNS patches to 10 pages; prints the slowest page's load and the wall time, returns the latter.
async fn broadcast(server: &AppServer, modules: &Modules, next: &mut u64, label: &str) -> Vec<f64> {
    let patches = speed_patches(modules, *next, RUNS as u64).await;
    *next += RUNS as u64;
    let (load, wall) = deliver_each(server, patches, 10).await;
    line(&format!("slowest page's load, {label}"), &load);
    line(&format!("deliver() wall, {label}"), &wall);
    wall
}

async fn memory(page: &Page) -> (f64, f64) {
    let v = page.eval("gc(); [performance.memory.usedJSHeapSize, Module.HEAP8.buffer.byteLength]").await;
    (v[0].as_f64().unwrap_or(0.0) / 1024.0, v[1].as_f64().unwrap_or(0.0) / 1024.0)
}

#[tokio::main]
async fn main() {
    let root = app_root("bench").await;
    let journal = root.parent().unwrap().join("journal");
    let server = AppServer::start(&app_settings(Some(root)), &journal).await.expect("app server");
    let modules = Modules::new("bench").await;
    let browser = Browser::launch().await;

    let mut next = 1_000_000;
    let first = browser.open(&server.url()).await;
    first.wait_for("window.jankHotpatch.connected", std::time::Duration::from_secs(20)).await;
    server.deliver(modules.demo_core(next, 3, ("tomato", "steelblue"), "n=").await).await.expect("demo code");
    next += 4;

    println!("\n== one page, one small patch at a time ==");
    let patches = speed_patches(&modules, next, RUNS as u64).await;
    println!("(module size {} bytes)", patches[0].module.bytes.len());
    next += RUNS as u64;
    let (load, wall_one) = deliver_each(&server, patches, 1).await;
    line("load in the page (write + dlopen + rebind)", &load);
    line("deliver() wall, 1 page", &wall_one);

    println!("\n== broadcast: 10 pages ==");
    let mut pages = vec![first];
    for _ in 1..10 {
        let page = browser.open(&server.url()).await;
        page.wait_for("window.jankHotpatch.applied.length >= 4", std::time::Duration::from_secs(30)).await;
        pages.push(page);
    }
    let wall_ten = broadcast(&server, &modules, &mut next, "10 pages").await;
    println!("10 pages vs 1 page: {:+.3} ms at p50", percentile(&wall_ten, 0.5) - percentile(&wall_one, 0.5));

    // The same with the demo's animation stopped in every page: what is left is the
    // delivery itself, without 10 canvases redrawn at 60 fps on this machine's cores.
    for page in &pages {
        page.eval("window.requestAnimationFrame = () => 0").await;
    }
    let wall_still = broadcast(&server, &modules, &mut next, "10 still pages").await;
    println!("10 still pages vs 1 page: {:+.3} ms at p50", percentile(&wall_still, 0.5) - percentile(&wall_one, 0.5));
    for page in pages.drain(1..) {
        page.close().await;
    }
    let page = pages.pop().expect("the first page");

    println!("\n== {SUCCESSIVE} successive patches of one form, one page ==");
    let patches = speed_patches(&modules, next, SUCCESSIVE).await;
    let (heap0, wasm0) = memory(&page).await;
    let renderer0 = browser.rss_kib();
    let server0 = rss_kib(std::process::id());
    let (load, _) = deliver_each(&server, patches, 1).await;
    let (heap1, wasm1) = memory(&page).await;
    let renderer1 = browser.rss_kib();
    let server1 = rss_kib(std::process::id());
    line("load, first 100", &load[..100]);
    line("load, last 100", &load[load.len() - 100..]);
    let n = SUCCESSIVE as f64;
    println!("page JS heap      {heap0:>9.0} KiB -> {heap1:>9.0} KiB  ({:+.2} KiB per patch)", (heap1 - heap0) / n);
    println!("page wasm memory  {wasm0:>9.0} KiB -> {wasm1:>9.0} KiB  ({:+.2} KiB per patch)", (wasm1 - wasm0) / n);
    println!(
        "chromium RSS      {renderer0:>9} KiB -> {renderer1:>9} KiB  ({:+.2} KiB per patch)",
        (renderer1 as f64 - renderer0 as f64) / n
    );
    println!(
        "sidecar RSS       {server0:>9} KiB -> {server1:>9} KiB  ({:+.2} KiB per patch; the bench process, builder included)",
        (server1 as f64 - server0 as f64) / n
    );
    server.stop().await;
    browser.close().await;
}
