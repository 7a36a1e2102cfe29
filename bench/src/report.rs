//! The bench's outputs for people and tools: the table printed to stdout, the ratios between
//! rows and the goals checked against them (reported, never asserted), the JSON file, and
//! the README's benchmark section (rendered from the JSON, so a test can check the README).
//!
//! Owns: the layout of the table, the ratio and goal lists, and the README section. Must not
//! measure anything.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::rig::MACRO_USERS;
use super::stats::{ScenarioResult, Summary, STAGES};
use super::{BenchError, BenchResults, DEFAULT_ITERATIONS};

/// A comparison of two rows' p50s in the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub what: String,
    pub value: f64,
}

/// A speed or memory goal, what this run measured, and whether it met it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

fn clock_p50(results: &BenchResults, name: &str) -> Option<f64> {
    results.scenario(name).map(|s| s.clock.p50)
}

fn build_p50(results: &BenchResults, name: &str) -> Option<f64> {
    results.scenario(name)?.stage("build").map(|s| s.p50)
}

/// Deliver p50 + load p50: handing the module to the page and the page loading it.
fn deliver_load_p50(results: &BenchResults, name: &str) -> Option<f64> {
    let scenario = results.scenario(name)?;
    Some(scenario.stage("deliver")?.p50 + scenario.stage("load")?.p50)
}

/// `a / b` when both were measured and `b` is not 0.
fn over(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

/// The comparisons between rows that ran, on the editor's clock unless said otherwise.
pub fn ratios(results: &BenchResults) -> Vec<Ratio> {
    let clock = |name| clock_p50(results, name);
    let pairs = [
        ("ours / floor (bare clang++ + wasm-ld + load), end to end", over(clock("small"), clock("floor"))),
        (
            "ours / the original exploration's way (emcc -O2 per patch), end to end",
            over(clock("small"), clock("original")),
        ),
        ("ours / stock emcc -O0 with our flags, end to end (what emcc costs)", over(clock("small"), clock("emcc-o0"))),
        ("stock emcc -O0 / emcc -O2, end to end (what -O2 costs)", over(clock("emcc-o0"), clock("original"))),
        ("a save of 5 forms / one form, end to end", over(clock("save5"), clock("small"))),
        ("ours, idle page / floor, end to end", over(clock("small-idle"), clock("floor"))),
        (
            "one form saved, file written -> page saw it (page's clock) / one form, editor's clock",
            over(clock("save-page"), clock("small")),
        ),
        (
            "one form saved under `watch`, file written -> page saw it (page's clock) / one form, editor's clock",
            over(clock("save-watch"), clock("small")),
        ),
        (
            "ours, demo page / idle page, end to end (what the page's drawing costs)",
            over(clock("small"), clock("small-idle")),
        ),
    ];
    pairs.into_iter().filter_map(|(what, value)| Some(Ratio { what: what.to_string(), value: value? })).collect()
}

/// Checks the goals that the run has numbers for: this sidecar's, then the resident build's
/// (issue 20, Part 2), which hold as ratios of rows of the same run.
pub fn goals(results: &BenchResults) -> Vec<Goal> {
    let mut goals = Vec::new();
    let mut ms_goal = |text: &str, measured: Option<f64>, limit: f64| {
        if let Some(v) = measured {
            goals.push(Goal { goal: text.to_string(), measured: format!("{v:.2} ms"), met: v <= limit });
        }
    };
    ms_goal("end to end, one small form, p50 <= 60 ms", clock_p50(results, "small"), 60.0);
    ms_goal(
        "the sidecar's own share, one small form, p50 <= 2 ms",
        results.scenario("small").and_then(|s| s.own).map(|o| o.p50),
        2.0,
    );
    ms_goal("cache hit (unchanged form) p50 <= 5 ms", clock_p50(results, "cache"), 5.0);
    ms_goal(
        "undo, sidecar + page (the sidecar's total), p50 <= 5 ms",
        results.scenario("undo").and_then(|s| s.sidecar_total).map(|t| t.p50),
        5.0,
    );
    let mut ratio_goal = |text: &str, measured: Option<f64>, limit: f64| {
        if let Some(v) = measured {
            goals.push(Goal { goal: text.to_string(), measured: format!("{v:.2}x"), met: v <= limit });
        }
    };
    let clock = |name| clock_p50(results, name);
    let build = |name| build_p50(results, name);
    ratio_goal("end to end p50 <= 0.25x the original exploration's way", over(clock("small"), clock("original")), 0.25);
    ratio_goal("resident build: build p50 <= 0.15x the floor's build", over(build("small"), build("floor")), 0.15);
    ratio_goal(
        "resident build: end to end p50 <= 0.25x the floor's end to end",
        over(clock("small"), clock("floor")),
        0.25,
    );
    ratio_goal(
        "resident build, idle page: end to end p50 <= 0.25x the floor's end to end",
        over(clock("small-idle"), clock("floor")),
        0.25,
    );
    ratio_goal(
        "deliver + load p50 <= 1.2x the floor's bare send + load",
        over(deliver_load_p50(results, "small"), deliver_load_p50(results, "floor")),
        1.2,
    );
    ratio_goal(
        "resident build: <string>+<vector> with PCH <= 0.3x the process toolchain with PCH (build p50)",
        over(build("headers-pch"), build("headers-pch-process")),
        0.3,
    );
    ratio_goal("a save of 5 forms <= 2x one form (build p50)", over(build("save5"), build("small")), 2.0);
    ratio_goal(
        &format!("a macro change re-patching {MACRO_USERS} users <= 3x one form (editor's clock p50)"),
        over(clock("macro20"), clock("small")),
        3.0,
    );
    if let Some(soak) = &results.soak {
        let growth_mb = soak.sidecar_rss_growth_kib() as f64 / 1024.0;
        goals.push(Goal {
            goal: format!("{} patches: sidecar RSS growth <= 10 MB", soak.patches),
            measured: format!("{growth_mb:.2} MB"),
            met: growth_mb <= 10.0,
        });
    }
    goals
}

const NAME_WIDTH: usize = 46;

/// The rows whose own share the README breaks down (all rows have it in the JSON).
const OWN_STEPS_SHOWN: [&str; 3] = ["small", "cache", "undo"];
const COLUMNS: [&str; 9] = ["read", "compile", "build", "check", "deliver", "load", "EDITOR", "sidecar", "own"];

/// The table of p50 / p95 / max per stage, the editor's clock (the headline), the sidecar's
/// total and its own share, one block per scenario; then the fan-out, memory, ratios, goals
/// and notes.
pub fn table(results: &BenchResults) -> String {
    let mut out = String::new();
    let m = &results.machine;
    let _ = writeln!(
        out,
        "jank-hotpatch-bench ({} run, {} build): {} iterations after {} warm-up, {} page(s); milliseconds",
        results.mode, results.build, results.iterations, results.warmup, results.pages
    );
    let _ = writeln!(
        out,
        "{}, {} cores, {} GiB; {} UTC; load average {:.2} at the start, {:.2} at the end",
        m.cpu, m.cores, m.memory_gib, m.date, m.load_start, m.load_end
    );
    out.push_str(
        "compile = jank-standin, which stands in for jank; EDITOR = the editor's clock, request sent -> answer read; \
         sidecar = its totalMs; own = sidecar - compile - build - load\n",
    );
    let _ = write!(out, "{:<NAME_WIDTH$}     ", "scenario");
    for column in COLUMNS {
        let _ = write!(out, "{column:>10}");
    }
    out.push('\n');
    for scenario in &results.scenarios {
        scenario_rows(&mut out, scenario);
    }
    if let Some(fanout) = &results.fanout {
        let pages10 = results.scenario("pages10");
        let _ = writeln!(
            out,
            "\nfan-out: the sidecar's delivery stage hands a {}-byte patch to {} WebSocket pages (acking on receipt, no renderer) in p50 {:.2} / p95 {:.2} ms",
            fanout.module_bytes, fanout.pages, fanout.deliver.p50, fanout.deliver.p95
        );
        if let Some(row) = pages10 {
            let _ = writeln!(
                out,
                "  the {}-pages row: {:.2} ms end to end, deliver p50 {:.2} ms and load p50 {:.2} ms with {} Chromium renderers on {} cores",
                fanout.pages,
                row.clock.p50,
                row.stage("deliver").map_or(f64::NAN, |s| s.p50),
                row.stage("load").map_or(f64::NAN, |s| s.p50),
                fanout.pages,
                m.cores
            );
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
    if !results.ratios.is_empty() {
        out.push_str("\nratios (p50, editor's clock, same run):\n");
        for ratio in &results.ratios {
            let _ = writeln!(out, "  {}: {:.2}x", ratio.what, ratio.value);
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
            cell(out, scenario.stage(stage).as_ref().map(pick));
        }
        cell(out, Some(pick(&scenario.clock)));
        cell(out, scenario.sidecar_total.as_ref().map(pick));
        cell(out, scenario.own.as_ref().map(pick));
        out.push('\n');
    }
}

fn cell(out: &mut String, value: Option<f64>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v:>10.2}");
        }
        None => {
            let _ = write!(out, "{:>10}", "-");
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
    write(path, &(text + "\n"))
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    }
    std::fs::write(path, text).map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}

/// The lines around the README's benchmark section.
pub const README_BEGIN: &str = "<!-- bench: begin (generated from docs/bench.json by `jank-hotpatch-bench --readme README.md`; a test checks it) -->";
pub const README_END: &str = "<!-- bench: end -->";

/// The README's benchmark section (between the markers): where and when, then one line per
/// scenario, then the ratios and the goals, all from `results`.
pub fn readme_section(results: &BenchResults) -> String {
    let m = &results.machine;
    let mut out = String::new();
    let quiet = match (m.load_start < 3.0, results.iterations < DEFAULT_ITERATIONS) {
        (true, _) => String::new(),
        (false, true) => format!(
            " (a busy machine, so fewer patches than the default {DEFAULT_ITERATIONS}, and noisier figures than a quiet run's)"
        ),
        (false, false) => " (a busy machine: figures are noisier than a quiet run's)".to_string(),
    };
    let _ = writeln!(
        out,
        "One {} run, {} build, {} UTC on {} ({} cores, {} GiB), load average {:.1} at the start and {:.1} at the end{quiet}; \
         {} patches per scenario after {} warm-up, {} page(s). Compile is the jank stand-in (`tests/jank-standin`), not jank. \
         The headline is the editor's clock (request sent -> answer read); the sidecar's own `totalMs` beside it.",
        results.mode,
        results.build,
        m.date,
        m.cpu,
        m.cores,
        m.memory_gib,
        m.load_start,
        m.load_end,
        results.iterations,
        results.warmup,
        results.pages
    );
    out.push('\n');
    out.push_str("| scenario | editor's clock p50 | p95 | build p50 | sidecar total p50 | sidecar's own p50 |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1} ms"));
    for s in &results.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            markdown(&s.title),
            ms(Some(s.clock.p50)),
            ms(Some(s.clock.p95)),
            ms(s.stage("build").map(|b| b.p50)),
            ms(s.sidecar_total.map(|t| t.p50)),
            ms(s.own.map(|o| o.p50)),
        );
    }
    for s in results.scenarios.iter().filter(|s| !s.own_steps.is_empty() && OWN_STEPS_SHOWN.contains(&s.name.as_str()))
    {
        let parts: Vec<String> = s.own_steps.iter().map(|p| format!("{} {:.2}", p.stage, p.summary.p50)).collect();
        let _ = writeln!(
            out,
            "\nThe sidecar's own share of \"{}\", p50 of each part in ms: {}.",
            markdown(&s.title),
            parts.join(", ")
        );
    }
    if let Some(f) = &results.fanout {
        let _ = writeln!(
            out,
            "\nOf the {}-pages row, the sidecar's own fan-out (handing a patch to {} pages that ack on receipt) is {:.1} ms p50; \
             the rest is {} Chromium renderers sharing {} cores.",
            f.pages, f.pages, f.deliver.p50, f.pages, m.cores
        );
    }
    if let Some(soak) = &results.soak {
        let _ = writeln!(
            out,
            "\n{} successive patches: sidecar RSS {:+.1} MB.",
            soak.patches,
            soak.sidecar_rss_growth_kib() as f64 / 1024.0
        );
    }
    if !results.ratios.is_empty() {
        out.push('\n');
        for r in &results.ratios {
            let _ = writeln!(out, "- {}: **{:.2}x**", markdown(&r.what), r.value);
        }
    }
    if !results.goals.is_empty() {
        out.push_str("\nGoals, as measured in this run (met or not):\n\n");
        for g in &results.goals {
            let _ = writeln!(out, "- [{}] {}: {}", if g.met { "met" } else { "missed" }, markdown(&g.goal), g.measured);
        }
    }
    out
}

/// Text as Markdown shows it literally: `<string>` would otherwise be taken for an HTML tag.
fn markdown(text: &str) -> String {
    text.replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|")
}

/// Where the section between the markers (exclusive) is in a README's text.
fn readme_bounds(readme: &str) -> Option<(usize, usize)> {
    let start = readme.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + readme[start..].find(README_END)?;
    Some((start, end))
}

/// The benchmark section of a README's text, between the markers, if any.
pub fn readme_part(readme: &str) -> Option<&str> {
    let (start, end) = readme_bounds(readme)?;
    Some(readme[start..end].trim_matches('\n'))
}

/// Reads a run's JSON (as `write_json` wrote it).
pub fn read_json(path: &Path) -> Result<BenchResults, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(format!("read {}", path.display()), e))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Output(format!("{} is not a bench run's JSON: {e}", path.display())))
}

/// Replaces the section between the markers in `path` with this run's.
pub fn update_readme(results: &BenchResults, path: &Path) -> Result<(), BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(format!("read {}", path.display()), e))?;
    let Some((start, end)) = readme_bounds(&text) else {
        return Err(BenchError::Output(format!(
            "{} has no `{README_BEGIN}` ... `{README_END}` section",
            path.display()
        )));
    };
    let section = readme_section(results);
    write(path, &format!("{}\n{}\n{}", &text[..start], section.trim_matches('\n'), &text[end..]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::stats::Sample;
    use super::super::{Fanout, Machine, PageSoak, Soak};
    use super::*;
    use crate::memory::PageMemory;

    fn ours(build: f64) -> Sample {
        let stages = [Some(0.1), Some(2.0), Some(build), Some(0.2), Some(2.5), Some(0.7)];
        Sample { stages, clock: build + 7.0, sidecar: Some(build + 6.0), steps: Some([0.1; 5]) }
    }

    fn without_sidecar(build: f64) -> Sample {
        Sample {
            stages: [None, Some(2.0), Some(build), None, Some(2.0), Some(0.5)],
            clock: build + 5.0,
            sidecar: None,
            steps: None,
        }
    }

    pub(crate) fn example() -> BenchResults {
        let small = ScenarioResult::from_samples("small", "one small form", &[ours(40.0), ours(42.0), ours(60.0)]);
        let floor = ScenarioResult::from_samples("floor", "floor", &[without_sidecar(38.0)]);
        let original =
            ScenarioResult::from_samples("original", "original way (emcc -O2 per patch)", &[without_sidecar(200.0)])
                .with_note("emcc -O2");
        let cache = ScenarioResult::from_samples("cache", "unchanged form (cache hit)", &[ours(0.1)]);
        let mut results = BenchResults {
            mode: "full".into(),
            build: "release".into(),
            iterations: 3,
            warmup: 1,
            pages: 1,
            machine: Machine {
                cpu: "Test CPU".into(),
                cores: 2,
                memory_gib: 7.8,
                date: "2026-11-29 21:30".into(),
                load_start: 0.5,
                load_end: 0.7,
            },
            scenarios: vec![small, floor, original, cache],
            fanout: Some(Fanout { pages: 10, module_bytes: 1024, deliver: Summary { p50: 1.5, p95: 2.0, max: 3.0 } }),
            soak: Some(Soak {
                patches: 1000,
                sidecar_rss_kib_before: 20_000,
                sidecar_rss_kib_after: 22_048,
                pages: vec![PageSoak {
                    before: PageMemory::default(),
                    after: PageMemory { js_heap_bytes: 1 << 20, wasm_bytes: 1 << 24, pss_kib: 1000 },
                }],
            }),
            ratios: Vec::new(),
            goals: Vec::new(),
            notes: vec!["release build".into()],
        };
        results.ratios = ratios(&results);
        results.goals = goals(&results);
        results
    }

    #[test]
    fn ratios_and_goals_follow_the_numbers_and_skip_what_did_not_run() {
        let results = example();
        let ratios: Vec<(&str, String)> =
            results.ratios.iter().map(|r| (r.what.as_str(), format!("{:.3}", r.value))).collect();
        assert_eq!(ratios.len(), 2, "no emcc-o0 row, so no emcc ratios: {ratios:?}");
        assert_eq!(ratios[0].1, format!("{:.3}", 49.0 / 43.0));
        let met: Vec<(&str, bool)> = results.goals.iter().map(|g| (g.goal.as_str(), g.met)).collect();
        assert_eq!(
            met,
            vec![
                ("end to end, one small form, p50 <= 60 ms", true),
                ("the sidecar's own share, one small form, p50 <= 2 ms", false),
                ("cache hit (unchanged form) p50 <= 5 ms", false),
                ("end to end p50 <= 0.25x the original exploration's way", true),
                ("resident build: build p50 <= 0.15x the floor's build", false),
                ("resident build: end to end p50 <= 0.25x the floor's end to end", false),
                ("deliver + load p50 <= 1.2x the floor's bare send + load", false),
                ("1000 patches: sidecar RSS growth <= 10 MB", true),
            ]
        );
        assert_eq!(results.goals[0].measured, "49.00 ms");
    }

    #[test]
    fn table_has_three_rows_per_scenario_and_the_extras() {
        let text = table(&example());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("Test CPU, 2 cores") && lines[2].starts_with("compile = jank-standin"), "{text}");
        assert!(lines[3].starts_with("scenario") && lines[3].contains("EDITOR"), "{text}");
        assert!(lines[4].starts_with("one small form (n=3)") && lines[4].contains(" p50"), "{text}");
        assert!(lines[5].contains(" p95") && lines[6].contains(" max"), "{text}");
        // No sidecar: no sidecar total, no own share, no read or check stage.
        let original = lines.iter().find(|l| l.starts_with("original way")).unwrap();
        assert!(
            original.trim_end().ends_with('-') && original.split_whitespace().filter(|c| *c == "-").count() == 4,
            "{original}"
        );
        assert!(
            text.contains("ours / the original exploration's way (emcc -O2 per patch), end to end: 0.24x"),
            "{text}"
        );
        assert!(text.contains("10 WebSocket pages") && text.contains("p50 1.50"), "{text}");
        assert!(text.contains("sidecar RSS 19.5 MB -> 21.5 MB (+2.0 MB)"), "{text}");
        assert!(text.contains("[MISSED] resident build: build p50"), "{text}");
        assert!(text.contains("original: emcc -O2") && text.contains("- release build"), "{text}");
    }

    #[test]
    fn json_round_trips_the_numbers() {
        let dir = std::env::temp_dir().join(format!("jh-bench-json-{}", std::process::id()));
        let path = dir.join("out/bench.json");
        write_json(&example(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["scenarios"][0]["name"], "small");
        assert_eq!(value["scenarios"][0]["stages"][2]["stage"], "build");
        assert_eq!(value["scenarios"][0]["stages"][2]["p50"], 42.0);
        assert_eq!(value["scenarios"][1]["sidecar_total"], serde_json::Value::Null, "missing, never 0");
        assert_eq!(value["soak"]["sidecar_rss_kib_after"], 22_048);
        let back: BenchResults = serde_json::from_str(&text).unwrap();
        assert_eq!(readme_section(&back), readme_section(&example()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_readme_section_is_replaced_between_its_markers() {
        let dir = std::env::temp_dir().join(format!("jh-bench-readme-{}", std::process::id()));
        let path = dir.join("README.md");
        write(&path, &format!("# x\n\n{README_BEGIN}\nold\n{README_END}\n\n## next\n")).unwrap();
        update_readme(&example(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(readme_part(&text), Some(readme_section(&example()).trim_matches('\n')));
        assert!(text.starts_with("# x\n\n") && text.ends_with(&format!("{README_END}\n\n## next\n")), "{text}");
        assert!(
            text.contains("| one small form | 49.0 ms |") && text.contains("| original way (emcc -O2 per patch) |")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The README's benchmark table is the committed `docs/bench.json`, rendered.
    #[test]
    fn the_readme_table_matches_docs_bench_json() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let results = read_json(&root.join("docs/bench.json")).expect("docs/bench.json is committed");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let part = readme_part(&readme).expect("README.md has the benchmark section markers");
        assert_eq!(
            part,
            readme_section(&results).trim_matches('\n'),
            "README.md's benchmark section differs from docs/bench.json: run `jank-hotpatch-bench --readme README.md` \
             (or put back the JSON of the run the README shows)"
        );
    }
}
