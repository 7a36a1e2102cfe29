//! The bench's outputs for people and tools: the table printed to stdout, the goals checked
//! against the numbers (reported, never asserted), and the JSON file.
//!
//! Owns: the layout of the table and the goal list. Must not measure anything.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::stats::{ScenarioResult, Summary, STAGES};
use super::{BenchError, BenchResults};

/// A speed or memory goal from the issue, and whether this run met it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

/// Checks the goals that the run has numbers for.
pub fn goals(results: &BenchResults) -> Vec<Goal> {
    let mut goals = Vec::new();
    let mut goal = |text: &str, measured: f64, unit: &str, met: bool| {
        goals.push(Goal { goal: text.to_string(), measured: format!("{measured:.2}{unit}"), met });
    };
    if let Some(small) = results.scenario("small") {
        goal("end to end, one small form, p50 <= 60 ms", small.end_to_end.p50, " ms", small.end_to_end.p50 <= 60.0);
        if let Some(own) = small.own {
            goal("the sidecar's own share, one small form, p50 <= 5 ms", own.p50, " ms", own.p50 <= 5.0);
        }
    }
    if let Some(ratio) = results.seed.as_ref().and_then(|s| s.ratio) {
        goal("end to end p50 <= 0.25x the seed's way (same run)", ratio, "x", ratio <= 0.25);
    }
    if let Some(cache) = results.scenario("cache") {
        goal("cache hit (unchanged form) p50 <= 10 ms", cache.end_to_end.p50, " ms", cache.end_to_end.p50 <= 10.0);
    }
    if let Some(soak) = &results.soak {
        let growth_mb = soak.sidecar_rss_growth_kib() as f64 / 1024.0;
        goal(&format!("{} patches: sidecar RSS growth <= 10 MB", soak.patches), growth_mb, " MB", growth_mb <= 10.0);
    }
    goals
}

const NAME_WIDTH: usize = 34;
const COLUMNS: [&str; 9] = ["read", "compile", "build", "check", "deliver", "load", "end-to-end", "client", "own"];

/// The table of p50 / p95 / max per stage and end to end, one block per scenario, then the
/// seed's way, memory, goals and notes.
pub fn table(results: &BenchResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "jank-hotpatch-bench ({}): {} iterations after {} warm-up, {} page(s); milliseconds",
        results.mode, results.iterations, results.warmup, results.pages
    );
    let _ = write!(out, "{:<NAME_WIDTH$}     ", "scenario");
    for column in COLUMNS {
        let _ = write!(out, "{column:>11}");
    }
    out.push('\n');
    for scenario in &results.scenarios {
        scenario_rows(&mut out, scenario);
    }
    if let Some(seed) = &results.seed {
        out.push('\n');
        let _ = writeln!(out, "seed's way: {}", seed.method);
        match seed.ratio {
            Some(ratio) => {
                let _ = writeln!(out, "ours / seed's way, end to end p50: {ratio:.2}x");
            }
            None => out.push_str("ours / seed's way: no ratio (the small-form scenario did not run)\n"),
        }
    }
    if let Some(soak) = &results.soak {
        out.push('\n');
        let _ = writeln!(
            out,
            "{} successive patches: sidecar RSS {:.1} MB -> {:.1} MB ({:+.1} MB)",
            soak.patches,
            soak.sidecar_rss_kib_before as f64 / 1024.0,
            soak.sidecar_rss_kib_after as f64 / 1024.0,
            soak.sidecar_rss_growth_kib() as f64 / 1024.0
        );
        for (i, page) in soak.pages.iter().enumerate() {
            let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
            let _ = writeln!(
                out,
                "  page {}: JS heap {:.2} -> {:.2} MB, wasm memory {:.2} -> {:.2} MB, Chromium PSS {:.1} -> {:.1} MB",
                i + 1,
                mb(page.before.js_heap_bytes),
                mb(page.after.js_heap_bytes),
                mb(page.before.wasm_bytes),
                mb(page.after.wasm_bytes),
                page.before.pss_kib as f64 / 1024.0,
                page.after.pss_kib as f64 / 1024.0
            );
        }
    }
    if !results.goals.is_empty() {
        out.push_str("\ngoals (reported, not asserted):\n");
        for goal in &results.goals {
            let _ = writeln!(out, "  [{}] {}: {}", if goal.met { "met" } else { "MISSED" }, goal.goal, goal.measured);
        }
    }
    let notes: Vec<String> = results
        .scenarios
        .iter()
        .flat_map(|s| s.notes.iter().map(move |n| format!("{}: {n}", s.name)))
        .chain(results.notes.iter().cloned())
        .collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    if !results.failures.is_empty() {
        let _ = writeln!(out, "\nFAILURES ({}):", results.failures.len());
        for failure in results.failures.iter().take(20) {
            let _ = writeln!(out, "  - {failure}");
        }
    }
    out
}

fn scenario_rows(out: &mut String, scenario: &ScenarioResult) {
    let label = format!("{} (n={})", scenario.title, scenario.samples);
    type Pick = fn(&Summary) -> f64;
    let rows: [(&str, Pick); 3] = [("p50", |s| s.p50), ("p95", |s| s.p95), ("max", |s| s.max)];
    for (i, (stat, pick)) in rows.iter().enumerate() {
        let name = if i == 0 { label.as_str() } else { "" };
        let _ = write!(out, "{:<NAME_WIDTH$} {stat:>4}", truncate(name, NAME_WIDTH));
        for stage in STAGES {
            let summary = scenario.stages.iter().find(|s| s.stage == stage).map(|s| s.summary);
            cell(out, summary.as_ref().map(pick));
        }
        cell(out, Some(pick(&scenario.end_to_end)));
        cell(out, scenario.round_trip.as_ref().map(pick));
        cell(out, scenario.own.as_ref().map(pick));
        out.push('\n');
    }
}

fn cell(out: &mut String, value: Option<f64>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v:>11.2}");
        }
        None => {
            let _ = write!(out, "{:>11}", "-");
        }
    }
}

fn truncate(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// Writes the results as pretty JSON, creating the directory.
pub fn write_json(results: &BenchResults, path: &Path) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(results)
        .map_err(|e| BenchError::Output(format!("cannot serialise the results: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    }
    std::fs::write(path, text + "\n").map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::stats::Sample;
    use super::super::{PageSoak, SeedBaseline, Soak};
    use super::*;
    use crate::memory::PageMemory;

    pub(crate) fn example() -> BenchResults {
        let sample = |build: f64| Sample {
            stages: [0.1, 2.0, build, 0.2, 2.5, 0.7],
            total: build + 6.0,
            round_trip: build + 7.0,
        };
        let small =
            ScenarioResult::from_samples("small", "one small form", &[sample(40.0), sample(42.0), sample(60.0)]);
        let cache = ScenarioResult::from_samples("cache", "unchanged form (cache hit)", &[sample(0.1)]);
        let seed = ScenarioResult::from_samples("seed", "the seed's way", &[sample(200.0)])
            .outside_sidecar()
            .with_note("emcc -O2");
        let mut results = BenchResults {
            mode: "full".into(),
            iterations: 3,
            warmup: 1,
            pages: 1,
            scenarios: vec![small, cache, seed],
            seed: Some(SeedBaseline { method: "emcc stock".into(), ratio: Some(48.0 / 206.0) }),
            soak: Some(Soak {
                patches: 1000,
                sidecar_rss_kib_before: 20_000,
                sidecar_rss_kib_after: 22_048,
                pages: vec![PageSoak {
                    before: PageMemory::default(),
                    after: PageMemory { js_heap_bytes: 1 << 20, wasm_bytes: 1 << 24, pss_kib: 1000 },
                }],
            }),
            goals: Vec::new(),
            failures: Vec::new(),
            notes: vec!["release build".into()],
        };
        results.goals = goals(&results);
        results
    }

    #[test]
    fn goals_follow_the_numbers() {
        let results = example();
        let met: Vec<(&str, bool)> = results.goals.iter().map(|g| (g.goal.as_str(), g.met)).collect();
        assert_eq!(
            met,
            vec![
                ("end to end, one small form, p50 <= 60 ms", true),
                ("the sidecar's own share, one small form, p50 <= 5 ms", true),
                ("end to end p50 <= 0.25x the seed's way (same run)", true),
                ("cache hit (unchanged form) p50 <= 10 ms", true),
                ("1000 patches: sidecar RSS growth <= 10 MB", true),
            ]
        );
        assert_eq!(results.goals[0].measured, "48.00 ms");
    }

    #[test]
    fn table_has_three_rows_per_scenario_and_the_extras() {
        let text = table(&example());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("scenario") && lines[1].contains("end-to-end"), "{text}");
        assert!(lines[2].starts_with("one small form (n=3)") && lines[2].contains(" p50"), "{text}");
        assert!(lines[3].contains(" p95") && lines[4].contains(" max"), "{text}");
        // The seed's way has no client clock and no own share.
        let seed_row = lines.iter().find(|l| l.starts_with("the seed's way")).unwrap();
        assert!(seed_row.trim_end().ends_with('-'), "{seed_row}");
        assert!(text.contains("ours / seed's way, end to end p50: 0.23x"), "{text}");
        assert!(text.contains("sidecar RSS 19.5 MB -> 21.5 MB (+2.0 MB)"), "{text}");
        assert!(text.contains("[met] cache hit"), "{text}");
        assert!(text.contains("seed: emcc -O2") && text.contains("- release build"), "{text}");
    }

    #[test]
    fn json_round_trips_the_numbers() {
        let dir = std::env::temp_dir().join(format!("jh-bench-json-{}", std::process::id()));
        let path = dir.join("out/bench.json");
        write_json(&example(), &path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["scenarios"][0]["name"], "small");
        assert_eq!(value["scenarios"][0]["stages"][2]["stage"], "build");
        assert_eq!(value["scenarios"][0]["stages"][2]["p50"], 42.0);
        assert_eq!(value["scenarios"][2]["own"], serde_json::Value::Null);
        assert_eq!(value["soak"]["sidecar_rss_kib_after"], 22_048);
        assert_eq!(value["goals"].as_array().map(Vec::len), Some(5));
        let _ = std::fs::remove_dir_all(dir);
    }
}
