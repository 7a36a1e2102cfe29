//! Samples and their summaries: what one scenario measured, per stage and end to end, reduced
//! to p50 / p95 / max.
//!
//! Owns: the per-scenario sample sets (percentiles come from `test_support::stats`). Must not
//! start processes or print. A stage a row did not measure is absent, never 0.

use jank_hotpatch::stages::Stage;
use serde::{Deserialize, Serialize};
pub use test_support::stats::Summary;

/// The stages of a patch report, in pipeline order, as named in the report's `stages`.
pub const STAGES: [&str; 6] = {
    let [a, b, c, d, e, f] = Stage::ALL;
    [a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str(), f.as_str()]
};

/// The sidecar's own steps, as named in the report's `steps` (`<step>Ms`): where its own share
/// goes besides the read and check stages.
pub const STEPS: [&str; 5] = ["wait", "send", "socket", "client", "journal"];

/// The timings of one successful patch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// read, compile, build, check, deliver, load (ms), in [`STAGES`] order; `None` for a
    /// stage this way of patching does not have.
    pub stages: [Option<f64>; 6],
    /// The editor's clock: from sending the request (or the save) to reading the answer. For
    /// the ways without a sidecar, the bench is the editor and the server: from asking jank
    /// (or starting the build) to reading the pages' acks.
    pub clock: f64,
    /// The sidecar's `total_ms`: command receipt to the last page's ack, inside the sidecar.
    pub sidecar: Option<f64>,
    /// The sidecar's own steps, in [`STEPS`] order; `None` without a sidecar.
    pub steps: Option<[f64; 5]>,
}

impl Sample {
    /// The sidecar's own share: what is left of its total after jank (compile), the toolchain
    /// (build) and the pages (load). `None` without a sidecar.
    pub fn own(&self) -> Option<f64> {
        let total = self.sidecar?;
        let others: f64 = [1, 2, 5].iter().filter_map(|&i| self.stages[i]).sum();
        Some((total - others).max(0.0))
    }
}

/// What one scenario measured, summarised.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The name `--scenarios` takes.
    pub name: String,
    /// One line for the table.
    pub title: String,
    pub samples: usize,
    /// The stages this row measured, in [`STAGES`] order.
    pub stages: Vec<StageSummary>,
    /// The headline: the editor's clock (see [`Sample::clock`]).
    pub clock: Summary,
    /// The sidecar's `total_ms`; `None` where no sidecar took part.
    pub sidecar_total: Option<Summary>,
    /// `sidecar total - compile - build - load`; `None` where no sidecar took part.
    pub own: Option<Summary>,
    /// The own share broken down: the read and check stages, the [`STEPS`], and what none
    /// of them covers (`other`); empty where no sidecar took part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_steps: Vec<StageSummary>,
    /// How the numbers were obtained, when that is not the obvious way.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: String,
    #[serde(flatten)]
    pub summary: Summary,
}

impl ScenarioResult {
    /// Summarises `samples` (at least one: a scenario without samples has no row).
    pub fn from_samples(name: &str, title: &str, samples: &[Sample]) -> ScenarioResult {
        let series = |values: Vec<f64>| Summary::of(&values);
        let all = |f: &dyn Fn(&Sample) -> Option<f64>| samples.iter().map(f).collect::<Option<Vec<f64>>>();
        let stages = STAGES
            .iter()
            .enumerate()
            .filter_map(|(i, stage)| {
                let values = all(&|s| s.stages[i])?;
                Some(StageSummary { stage: stage.to_string(), summary: series(values) })
            })
            .collect();
        ScenarioResult {
            name: name.to_string(),
            title: title.to_string(),
            samples: samples.len(),
            stages,
            clock: series(samples.iter().map(|s| s.clock).collect()),
            sidecar_total: all(&|s| s.sidecar).map(series),
            own: all(&Sample::own).map(series),
            own_steps: own_steps(samples),
            notes: Vec::new(),
        }
    }

    /// A part of the own share's breakdown, if this row has it.
    pub fn own_step(&self, step: &str) -> Option<Summary> {
        self.own_steps.iter().find(|s| s.stage == step).map(|s| s.summary)
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// A stage's summary, if this row measured it.
    pub fn stage(&self, stage: &str) -> Option<Summary> {
        self.stages.iter().find(|s| s.stage == stage).map(|s| s.summary)
    }
}

/// The own share's parts per sample: read, check, each step, and the rest (`other`).
fn own_steps(samples: &[Sample]) -> Vec<StageSummary> {
    let parts: Option<Vec<Vec<(&str, f64)>>> = samples
        .iter()
        .map(|s| {
            let (own, steps) = (s.own()?, s.steps?);
            let mut parts = vec![("read", s.stages[0]?), ("check", s.stages[3]?)];
            parts.extend(STEPS.iter().copied().zip(steps));
            let counted: f64 = parts.iter().map(|(_, ms)| ms).sum();
            parts.push(("other", (own - counted).max(0.0)));
            Some(parts)
        })
        .collect();
    let Some(parts) = parts.filter(|p| !p.is_empty()) else { return Vec::new() };
    (0..parts[0].len())
        .map(|i| StageSummary {
            stage: parts[0][i].0.to_string(),
            summary: Summary::of(&parts.iter().map(|p| p[i].1).collect::<Vec<_>>()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(build: f64) -> Sample {
        let stages = [Some(0.5), Some(2.0), Some(build), Some(0.3), Some(3.0), Some(1.0)];
        Sample { stages, clock: build + 8.0, sidecar: Some(build + 7.5), steps: Some([0.5, 0.2, 0.5, 0.3, 0.1]) }
    }

    #[test]
    fn own_share_is_what_jank_the_toolchain_and_pages_leave() {
        assert!((sample(40.0).own().unwrap() - 4.5).abs() < 1e-9);
        let cached = Sample { sidecar: Some(0.9), ..sample(0.1) };
        assert_eq!(cached.own(), Some(0.0), "never negative");
        assert_eq!(Sample { sidecar: None, ..sample(1.0) }.own(), None, "no sidecar, no share");
    }

    #[test]
    fn scenario_summarises_the_stages_it_measured() {
        let samples: Vec<Sample> = (1..=4).map(|i| sample(f64::from(i) * 10.0)).collect();
        let result = ScenarioResult::from_samples("small", "one small form", &samples);
        assert_eq!(result.samples, 4);
        assert_eq!(result.stages.len(), 6);
        assert_eq!(result.stage("build").map(|s| s.p50), Some(20.0));
        assert_eq!(result.clock.max, 48.0);
        assert_eq!(result.own.map(|o| o.p50), Some(4.5));
        let parts: Vec<&str> = result.own_steps.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(parts, ["read", "check", "wait", "send", "socket", "client", "journal", "other"]);
        // 4.5 own = 0.5 read + 0.3 check + 1.6 of steps + 2.1 that no step covers.
        assert!((result.own_step("other").unwrap().p50 - 2.1).abs() < 1e-9);

        let build_only =
            Sample { stages: [None, None, Some(30.0), None, None, None], clock: 30.5, sidecar: None, steps: None };
        let row = ScenarioResult::from_samples("headers", "a build", &[build_only]);
        assert_eq!(row.stages.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(), ["build"]);
        assert_eq!((row.stage("compile"), row.sidecar_total, row.own), (None, None, None));
        assert!(row.own_steps.is_empty());
    }
}
