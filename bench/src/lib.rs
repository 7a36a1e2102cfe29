//! `jank-hotpatch-bench`: one benchmark for the whole loop, edit to applied, stage by stage,
//! on the real pieces: the sidecar as a subprocess driven over LSP as an editor drives it,
//! the stand-in jank (compile is the stand-in, not jank), the real toolchain and headless
//! Chromium pages. In the same run and the same pages: the original exploration's way (emcc
//! -O2 per patch), stock emcc at -O0 with our flags, and the floor (bare clang++ + wasm-ld and
//! a bare load).
//!
//! Owns: starting and cleaning up those processes for a run (`rig`), the scenarios, the ways
//! without a sidecar (`baselines`, `channel`), the fan-out apart from the pages (`fanout`),
//! and the outputs (table on stdout, JSON, SVG chart, the README's table). Must not reach
//! into the sidecar's internals: it sees only what an editor sees, plus the build and
//! delivery stages directly where a scenario needs one alone.
//!
//! Every row's headline is the editor's clock (request sent -> answer read). Speed goals are
//! reported, never asserted. A failed patch, or a page that did not apply it, ends the run
//! with an error: no sample, row, table, chart or JSON comes from a failed scenario.

mod baselines;
mod channel;
mod chart;
mod fanout;
mod machine;
mod memory;
mod report;
mod rig;
mod scenarios;
mod stats;
mod watch;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use machine::Machine;
pub use memory::PageMemory;
pub use report::{readme_part, readme_section, Goal, Ratio};
pub use stats::{ScenarioResult, StageSummary, Summary};

/// The scenarios, in the order of the table (`--scenarios` takes these names). They run in
/// this order too, except that `floor`, `small`, `small-idle`, `save5` and `macro20` are measured
/// in turn, after the saves' rows.
pub const SCENARIOS: [&str; 14] = [
    "small",
    "small-idle",
    "save-page",
    "save-watch",
    "floor",
    "emcc-o0",
    "original",
    "cache",
    "undo",
    "save5",
    "macro20",
    "headers",
    "pages10",
    "soak",
];

/// Where the chart and the JSON go in a full run: the README shows the one and its table is
/// checked against the other.
pub const DEFAULT_SVG: &str = "docs/bench.svg";
pub const DEFAULT_JSON: &str = "docs/bench.json";

/// Measured patches per scenario in a full run.
pub const DEFAULT_ITERATIONS: usize = 30;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Measured patches per scenario.
    pub iterations: usize,
    /// Unmeasured patches before each scenario.
    pub warmup: usize,
    /// Short run for CI: 2 iterations, 2 pages (3 in the many-pages scenario), 5 successive
    /// patches instead of 1,000; fails when any patch fails or any page does not apply it.
    pub smoke: bool,
    /// Write the results as JSON here (default `docs/bench.json` in a full run).
    pub json: Option<PathBuf>,
    /// Replace the README's benchmark section in this file with this run's.
    pub readme: Option<PathBuf>,
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
        BenchOptions {
            iterations: DEFAULT_ITERATIONS,
            warmup: 3,
            smoke: false,
            json: None,
            readme: None,
            svg: None,
            pages: 1,
            scenarios: Vec::new(),
        }
    }
}

impl BenchOptions {
    /// The options a run actually uses: `--smoke` fixes its own sizes.
    fn effective(&self) -> BenchOptions {
        let mut options = self.clone();
        if options.smoke {
            options.iterations = 2;
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
            5
        } else {
            1_000
        }
    }

    /// Pages in the many-pages scenario (a smoke run opens fewer Chromiums).
    fn many_pages(&self) -> usize {
        if self.smoke {
            3
        } else {
            10
        }
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

    fn json_path(&self) -> Option<PathBuf> {
        match (&self.json, self.smoke) {
            (Some(path), _) => Some(path.clone()),
            (None, false) => Some(PathBuf::from(DEFAULT_JSON)),
            (None, true) => None,
        }
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BenchResults {
    /// "full" or "smoke".
    pub mode: String,
    /// "release" or "debug": the build of the sidecar measured.
    pub build: String,
    pub iterations: usize,
    pub warmup: usize,
    pub pages: usize,
    pub machine: Machine,
    /// One per scenario that ran, in run order.
    pub scenarios: Vec<ScenarioResult>,
    /// The sidecar's own fan-out, apart from the pages (with the N-pages scenario).
    pub fanout: Option<Fanout>,
    pub soak: Option<Soak>,
    /// Comparisons between rows of this run.
    pub ratios: Vec<Ratio>,
    pub goals: Vec<Goal>,
    pub notes: Vec<String>,
}

impl BenchResults {
    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// The delivery stage handing one patch to `pages` WebSocket clients that ack on receipt:
/// the sidecar's share of the N-pages row, without N renderers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fanout {
    pub pages: usize,
    pub module_bytes: usize,
    pub deliver: Summary,
}

/// Memory before and after many successive patches of one form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    #[error("build: {0}")]
    Build(String),
    #[error("a patch was not applied: {0}")]
    NotApplied(String),
    #[error("{0}")]
    Gone(String),
    #[error("scenario `{scenario}` failed, so the run has no table, chart or JSON: {source}")]
    Scenario { scenario: String, source: Box<BenchError> },
    #[error("{0}")]
    Output(String),
    #[error("interrupted; every process the bench started has been stopped")]
    Interrupted,
}

impl BenchError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        BenchError::Io { what, source }
    }
}

/// Runs the selected scenarios, prints the table to stdout, writes the JSON, the chart and
/// (when asked) the README's section. Every process it starts is stopped when it returns,
/// also on error.
pub async fn run(options: BenchOptions) -> Result<BenchResults, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("find the bench's executable".into(), e))?;
    let program = exe.with_file_name("jank-hotpatch");
    if !program.exists() {
        let profile = if cfg!(debug_assertions) { "" } else { " --release" };
        return Err(BenchError::Missing(format!(
            "the sidecar is not at {}: build it with `cargo build{profile} -p jank-hotpatch -p jank-standin`",
            program.display()
        )));
    }
    run_with(&program, options).await
}

/// Renders a run's JSON again, measuring nothing: the table to stdout, the chart to `svg`,
/// and the README section into `readme` when given (to change the wording of the outputs
/// without a new run; the numbers stay the JSON's).
pub fn render(
    json: &std::path::Path,
    svg: &std::path::Path,
    readme: Option<&std::path::Path>,
) -> Result<BenchResults, BenchError> {
    let results = report::read_json(json)?;
    print!("{}", report::table(&results));
    chart::draw(&results, svg)?;
    println!("chart: {}", svg.display());
    if let Some(path) = readme {
        report::update_readme(&results, path)?;
        println!("README section: {}", path.display());
    }
    Ok(results)
}

/// [`run`] with `exe` as `jank-hotpatch` (and `jank-standin` beside it).
async fn run_with(exe: &std::path::Path, options: BenchOptions) -> Result<BenchResults, BenchError> {
    let options = options.effective();
    let selected = options.selected()?;
    let debug = exe.components().any(|c| c.as_os_str() == "debug");
    let mut results = BenchResults {
        mode: if options.smoke { "smoke" } else { "full" }.into(),
        build: if debug { "debug" } else { "release" }.into(),
        iterations: options.iterations,
        warmup: options.warmup,
        pages: options.pages,
        machine: Machine::now(),
        ..BenchResults::default()
    };
    if debug {
        results
            .notes
            .push("a debug build of the sidecar: its own share is inflated; run the release build for numbers".into());
    }
    // Ctrl-C drops the scenarios' future, and with it every process they started.
    tokio::select! {
        outcome = scenarios::run_all(exe, &options, &selected, &mut results) => outcome?,
        _ = tokio::signal::ctrl_c() => return Err(BenchError::Interrupted),
    }
    results.machine.finish();
    results.ratios = report::ratios(&results);
    results.goals = report::goals(&results);

    print!("{}", report::table(&results));
    if let Some(path) = options.json_path() {
        report::write_json(&results, &path)?;
        println!("results: {}", path.display());
    }
    let svg = options.svg_path();
    chart::draw(&results, &svg)?;
    println!("chart: {}", svg.display());
    if let Some(path) = &options.readme {
        report::update_readme(&results, path)?;
        println!("README section: {}", path.display());
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
        assert_eq!((effective.iterations, effective.pages, effective.soak_patches()), (2, 2, 5));
        assert_eq!(effective.many_pages(), 3);
        assert_eq!(effective.svg_path(), PathBuf::from("out/b.svg"));
        assert_eq!(BenchOptions { json: None, ..effective }.json_path(), None, "a smoke run writes no JSON unasked");
        let full = BenchOptions::default().effective();
        assert_eq!((full.iterations, full.pages, full.soak_patches(), full.many_pages()), (30, 1, 1_000, 10));
        assert_eq!(full.svg_path(), PathBuf::from(DEFAULT_SVG));
        assert_eq!(full.json_path(), Some(PathBuf::from(DEFAULT_JSON)));
    }

    #[test]
    fn scenarios_are_picked_by_name_in_run_order() {
        let pick = |names: &[&str]| {
            BenchOptions { scenarios: names.iter().map(|s| s.to_string()).collect(), ..BenchOptions::default() }
                .selected()
        };
        assert_eq!(pick(&[]).unwrap(), SCENARIOS.to_vec());
        assert_eq!(pick(&["original", "small"]).unwrap(), vec!["small", "original"]);
        let error = pick(&["fast"]).unwrap_err().to_string();
        assert!(
            error.contains("`fast`") && error.contains("small, small-idle, save-page, save-watch, floor"),
            "{error}"
        );
    }
}
