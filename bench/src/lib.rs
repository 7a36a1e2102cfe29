//! `jank-hotpatch-bench`: one benchmark for the whole loop, edit to applied, stage by stage,
//! against the seed's way, on the real pieces: the sidecar as a subprocess driven over LSP,
//! the stand-in jank, the real toolchain and headless Chromium pages.
//!
//! Owns: starting and cleaning up those processes for a run (`rig`), the scenarios, the
//! seed's-way baseline, and the outputs (table on stdout, JSON, SVG chart). Must not reach
//! into the sidecar's internals: it sees only what an editor sees (the LSP contract of
//! design.md), plus the build stage directly where a scenario needs a build alone.
//!
//! Speed goals are reported, never asserted; `--smoke` fails only when a patch fails or a
//! page does not apply it.

mod chart;
mod chromium;
mod editor;
mod memory;
mod report;
mod rig;
mod scenarios;
mod seed;
mod stats;

use std::path::PathBuf;

use serde::Serialize;

pub use memory::{rss_kib, tree_pss_kib, PageMemory};
pub use report::Goal;
pub use stats::{ScenarioResult, StageSummary, Summary};

/// The scenarios, in the order they run (`--scenarios` takes these names).
pub const SCENARIOS: [&str; 7] = ["small", "headers", "cache", "pages10", "save5", "soak", "seed"];

/// Where the chart goes in a full run: the README shows it.
pub const DEFAULT_SVG: &str = "docs/bench.svg";

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Measured patches per scenario.
    pub iterations: usize,
    /// Unmeasured patches before each scenario.
    pub warmup: usize,
    /// Short run for CI: 3 iterations, 2 pages, 10 successive patches instead of 1,000; fails
    /// when any patch fails or any page does not apply it.
    pub smoke: bool,
    /// Write the results as JSON here.
    pub json: Option<PathBuf>,
    /// Write the chart here. Default: `docs/bench.svg` in a full run; in a smoke run the JSON
    /// path with `.svg`, else a file in the temp dir (a smoke run never replaces the README's
    /// chart unless asked to).
    pub svg: Option<PathBuf>,
    /// Pages open during every scenario (the 10-pages scenario opens more).
    pub pages: usize,
    /// Scenario names from [`SCENARIOS`]; empty means all.
    pub scenarios: Vec<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { iterations: 30, warmup: 3, smoke: false, json: None, svg: None, pages: 1, scenarios: Vec::new() }
    }
}

impl BenchOptions {
    /// The options a run actually uses: `--smoke` fixes its own sizes.
    fn effective(&self) -> BenchOptions {
        let mut options = self.clone();
        if options.smoke {
            options.iterations = 3;
            options.warmup = options.warmup.min(1);
            options.pages = 2;
        }
        options.iterations = options.iterations.max(1);
        options.pages = options.pages.max(1);
        options
    }

    /// Successive patches of one form in the memory scenario.
    fn soak_patches(&self) -> usize {
        if self.smoke {
            10
        } else {
            1_000
        }
    }

    /// Pages in the many-pages scenario.
    fn many_pages(&self) -> usize {
        10
    }

    fn selected(&self) -> Result<Vec<&'static str>, BenchError> {
        if let Some(unknown) = self.scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
            return Err(BenchError::UnknownScenario(unknown.clone()));
        }
        Ok(SCENARIOS
            .iter()
            .copied()
            .filter(|s| self.scenarios.is_empty() || self.scenarios.iter().any(|x| x == s))
            .collect())
    }

    fn svg_path(&self) -> PathBuf {
        match (&self.svg, self.smoke, &self.json) {
            (Some(path), _, _) => path.clone(),
            (None, false, _) => PathBuf::from(DEFAULT_SVG),
            (None, true, Some(json)) => json.with_extension("svg"),
            (None, true, None) => {
                std::env::temp_dir().join(format!("jank-hotpatch-bench-smoke-{}.svg", std::process::id()))
            }
        }
    }
}

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BenchResults {
    /// "full" or "smoke".
    pub mode: String,
    pub iterations: usize,
    pub warmup: usize,
    pub pages: usize,
    /// One per scenario that ran, the seed's way included (name "seed").
    pub scenarios: Vec<ScenarioResult>,
    pub seed: Option<SeedBaseline>,
    pub soak: Option<Soak>,
    pub goals: Vec<Goal>,
    /// Patches that failed or that a page did not apply.
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl BenchResults {
    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// How the seed's way was measured, and how we compare.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SeedBaseline {
    pub method: String,
    /// Our one-small-form end-to-end p50 over the seed's.
    pub ratio: Option<f64>,
}

/// Memory before and after many successive patches of one form.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Soak {
    pub patches: usize,
    pub sidecar_rss_kib_before: u64,
    pub sidecar_rss_kib_after: u64,
    pub pages: Vec<PageSoak>,
}

impl Soak {
    pub fn sidecar_rss_growth_kib(&self) -> i64 {
        self.sidecar_rss_kib_after as i64 - self.sidecar_rss_kib_before as i64
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PageSoak {
    pub before: PageMemory,
    pub after: PageMemory,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Missing(String),
    #[error("unknown scenario `{0}`; the scenarios are {known}", known = SCENARIOS.join(", "))]
    UnknownScenario(String),
    #[error("cannot start {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("`jank-hotpatch demo --prepare` failed ({status}): {stderr}")]
    Prepare { status: String, stderr: String },
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("sidecar: {0}")]
    Sidecar(String),
    #[error("Chrome DevTools: {0}")]
    Cdp(String),
    #[error("the seed's way: {0}")]
    Seed(String),
    #[error("{0}")]
    Output(String),
    #[error("interrupted; every process the bench started has been stopped")]
    Interrupted,
    #[error("{count} patch(es) failed or were not applied by every page; first: {first}")]
    PatchesFailed { count: usize, first: String },
}

impl BenchError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        BenchError::Io { what, source }
    }
}

/// Runs the selected scenarios, prints the table to stdout, writes the JSON and the chart.
/// Every process it starts is stopped when it returns, also on error.
pub async fn run(options: BenchOptions) -> Result<BenchResults, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("find the jank-hotpatch executable".into(), e))?;
    run_with(&exe, options).await
}

/// [`run`] with `exe` as `jank-hotpatch` (and `jank-standin` beside it).
async fn run_with(exe: &std::path::Path, options: BenchOptions) -> Result<BenchResults, BenchError> {
    let options = options.effective();
    let selected = options.selected()?;
    let mut results = BenchResults {
        mode: if options.smoke { "smoke" } else { "full" }.into(),
        iterations: options.iterations,
        warmup: options.warmup,
        pages: options.pages,
        ..BenchResults::default()
    };
    if exe.components().any(|c| c.as_os_str() == "debug") {
        results
            .notes
            .push("a debug build of the sidecar: its own share is inflated; run the release build for numbers".into());
    }
    // Ctrl-C drops the scenarios' future, and with it every process they started.
    tokio::select! {
        outcome = scenarios::run_all(exe, &options, &selected, &mut results) => outcome?,
        _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
    }
    results.goals = report::goals(&results);

    print!("{}", report::table(&results));
    if let Some(path) = &options.json {
        report::write_json(&results, path)?;
        println!("results: {}", path.display());
    }
    let svg = options.svg_path();
    chart::draw(&results, &svg)?;
    println!("chart: {}", svg.display());

    if let Some(first) = results.failures.first() {
        return Err(BenchError::PatchesFailed { count: results.failures.len(), first: first.clone() });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_fixes_its_sizes_and_keeps_the_readme_chart() {
        let options = BenchOptions {
            smoke: true,
            iterations: 30,
            pages: 5,
            json: Some("out/b.json".into()),
            ..BenchOptions::default()
        };
        let effective = options.effective();
        assert_eq!((effective.iterations, effective.pages, effective.soak_patches()), (3, 2, 10));
        assert_eq!(effective.svg_path(), PathBuf::from("out/b.svg"));
        let full = BenchOptions::default().effective();
        assert_eq!((full.iterations, full.pages, full.soak_patches()), (30, 1, 1_000));
        assert_eq!(full.svg_path(), PathBuf::from(DEFAULT_SVG));
    }

    #[test]
    fn scenarios_are_picked_by_name_in_run_order() {
        let pick = |names: &[&str]| {
            BenchOptions { scenarios: names.iter().map(|s| s.to_string()).collect(), ..BenchOptions::default() }
                .selected()
        };
        assert_eq!(pick(&[]).unwrap(), SCENARIOS.to_vec());
        assert_eq!(pick(&["seed", "small"]).unwrap(), vec!["small", "seed"]);
        let error = pick(&["fast"]).unwrap_err().to_string();
        assert!(error.contains("`fast`") && error.contains("small, headers"), "{error}");
    }
}
