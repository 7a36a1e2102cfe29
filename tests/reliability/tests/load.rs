//! Load, bounded in count and time, on loopback: a burst of 50 patch commands for one form, 20 ms
//! apart, and 200 patches to 20 pages that reload at (seeded) random moments. Nothing may be
//! lost: every request is answered, and every page ends with the editor's latest code.

use std::time::Duration;

use reliability::cdp::{process_tree_rss_kib, Browser, Page};
use reliability::figures::record;
use reliability::workspace::{demo_workspace, running_demo, values, wait_color, Jank, Running, Sidecar, WAIT};
use serde_json::{json, Value};

async fn applied(page: &Page) -> u64 {
    page.eval("window.jankHotpatch.applied.length").await.as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_burst_of_50_patches_of_one_form_applies_the_newest() {
    const BURST: usize = 50;
    let Running { jank: _jank, mut sidecar, browser, page, .. } =
        running_demo("load-burst", json!({"app": {"port": 0}})).await;
    let before = applied(&page).await;
    let pid = sidecar.client.child.id().expect("the sidecar runs");
    let rss_before = process_tree_rss_kib(pid);

    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    for i in 0..BURST {
        sidecar.set_defn("color", "clicks", &format!("\"burst-{i}\"")).await;
        ids.push(sidecar.send_patch("color").await);
        // A save every 20 ms is the load under test (fast typing), not a wait for anything.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_in = started.elapsed().as_secs_f64();
    let mut reports = Vec::new();
    for id in &ids {
        let response = sidecar.client.response(*id).await.unwrap_or_else(|| panic!("request {id} got no response"));
        assert!(response.get("error").is_none(), "{response}");
        reports.push(response["result"].clone());
    }
    let answered_in = started.elapsed().as_secs_f64();
    let last = reports.last().unwrap();
    assert_eq!(last["ok"], true, "the newest patch is applied: {last}");
    wait_color(&page, &format!("burst-{}", BURST - 1)).await;
    let loaded = applied(&page).await - before;
    let rss_after = process_tree_rss_kib(pid);
    let superseded = reports.iter().filter(|r| r["superseded"] == true).count();
    let delivered = reports.iter().filter(|r| r["ok"] == true && r["superseded"] != true).count();
    let failed = reports.iter().filter(|r| r["ok"] != true && r["superseded"] != true).count();
    // A patch is lost when its report says it was delivered and the page never loaded it.
    let lost = delivered.saturating_sub(loaded as usize);
    browser.close().await;
    record(&format!(
        "load: burst of {} patch commands for one form sent in {sent_in:.2} s, all answered by {answered_in:.2} s: {delivered} delivered, {superseded} superseded by a newer edit, {failed} failed; {loaded} loaded in the page, which ends with the newest; sidecar RSS {rss_before} -> {rss_after} KiB",
        ids.len()
    ));
    record(&format!("patches lost: {lost} of {delivered} delivered (burst of {})", ids.len()));
    assert_eq!(reports.len(), BURST, "every command is answered");
    assert_eq!(failed, 0, "no patch of the burst may fail");
    assert_eq!(lost, 0, "patches reported delivered but never loaded");
    assert!(loaded as usize <= delivered, "more loads ({loaded}) than delivered patches ({delivered})");
}

/// A small fixed-seed generator (xorshift64*): the same reload moments on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test]
async fn twenty_pages_reloading_at_random_all_end_with_the_latest_code() {
    const PAGES: usize = 20;
    const PATCHES: usize = 200;
    let dir = demo_workspace("load-pages");
    let _jank = Jank::start(&dir, &[]);
    let mut sidecar = Sidecar::start(&dir, json!({"app": {"port": 0}})).await;
    let url = sidecar.app_url().to_string();
    assert_eq!(sidecar.patch_file().await["ok"], true);
    let browser = Browser::launch().await;
    let mut pages = Vec::new();
    for _ in 0..PAGES {
        let page = browser.open("about:blank").await;
        // The demo animates at 60 frames a second; 20 of those on 2 shared cores would measure
        // the painting, not the patching. Frames every 250 ms keep the app running.
        let slow_frames = "window.requestAnimationFrame = (f) => setTimeout(() => f(performance.now()), 250);";
        page.add_script_on_new_document(slow_frames).await;
        page.navigate(&url).await;
        pages.push(page);
    }
    for page in &pages {
        wait_color(page, "tomato").await;
    }
    let mut start = Vec::new();
    for page in &pages {
        start.push(applied(page).await);
    }

    let mut rng = Seeded(0x5eed_1234_abcd_0007);
    let mut reloaded = [false; PAGES];
    let (mut ok, mut reloads) = (0u64, 0usize);
    let (mut total_ms, mut delivered_ms) = (0.0, 0.0);
    let started = std::time::Instant::now();
    let mut expected = json!({"speed": 3, "radius": 18, "color": "tomato", "label": "clicked 0 times"});
    for i in 0..PATCHES {
        let report = match i % 3 {
            0 => {
                expected["color"] = json!(format!("c{i}"));
                sidecar.patch_color(&format!("c{i}")).await
            }
            1 => {
                let radius = 10 + (i % 40);
                expected["radius"] = json!(radius);
                sidecar.set_defn("radius", "", &radius.to_string()).await;
                sidecar.patch("radius").await
            }
            _ => {
                expected["label"] = json!(format!("v{i} 0"));
                sidecar.set_defn("label", "clicks", &format!("(str \"v{i} \" clicks)")).await;
                sidecar.patch("label").await
            }
        };
        assert_eq!(report["ok"], true, "patch {i}: {report}");
        ok += 1;
        total_ms += report["totalMs"].as_f64().unwrap_or(0.0);
        delivered_ms += report["stages"]["deliverMs"].as_f64().unwrap_or(0.0)
            + report["stages"]["loadMs"].as_f64().unwrap_or(0.0);
        if rng.next().is_multiple_of(10) {
            let n = (rng.next() % PAGES as u64) as usize;
            reloaded[n] = true;
            reloads += 1;
            pages[n].call("Page.reload", json!({"ignoreCache": true})).await.expect("reload");
        }
    }

    // Every page converges on the editor's latest code; a page that never reloaded loaded
    // every patch whose report said ok.
    let mut lost = 0u64;
    let mut unconverged = 0usize;
    let deadline = std::time::Instant::now() + WAIT;
    for (n, page) in pages.iter().enumerate() {
        let mut now: Value = values(page).await;
        while now != expected && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            now = values(page).await;
        }
        if now != expected {
            eprintln!("page {n} did not converge: {now} (expected {expected})");
            unconverged += 1;
        }
        if !reloaded[n] {
            lost += ok.saturating_sub(applied(page).await - start[n]);
        }
    }
    let stayed = reloaded.iter().filter(|r| !**r).count();
    let seconds = started.elapsed().as_secs_f64();
    browser.close().await;
    record(&format!(
        "load: {PATCHES} patches to {PAGES} pages with {reloads} random reloads: {ok} ok, {unconverged} pages not converged, {stayed} pages never reloaded; {seconds:.1} s, mean report total {:.0} ms (deliver+load {:.0} ms)",
        total_ms / PATCHES as f64,
        delivered_ms / PATCHES as f64
    ));
    record(&format!("patches lost: {} of {PATCHES} ({PAGES} pages, random reloads)", lost + unconverged as u64));
    assert_eq!(unconverged, 0, "pages that do not run the latest code");
    assert_eq!(lost, 0, "patches reported ok but missing in a page that stayed connected");
}
