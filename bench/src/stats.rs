//! Samples and their summaries: what one scenario measured, per stage and end to end, reduced
//! to p50 / p95 / max.
//!
//! Owns: the per-scenario sample sets (percentiles come from `test_support::stats`). Must not start processes or print.

use jank_hotpatch::stages::Stage;
use serde::Serialize;
pub use test_support::stats::Summary;

/// The stages of a patch report, in pipeline order, as named in the report's `stages`.
pub const STAGES: [&str; 6] = {
    let [a, b, c, d, e, f] = Stage::ALL;
    [a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str(), f.as_str()]
};

/// The timings of one patch run, as the sidecar reported them, plus the client's own clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// read, compile, build, check, deliver, load (ms), in [`STAGES`] order.
    pub stages: [f64; 6],
    /// Inside the sidecar, from command receipt to the last page's ack.
    pub total: f64,
    /// From sending the request to reading the answer, on the bench's side of the pipe.
    pub round_trip: f64,
}

impl Sample {
    /// The sidecar's own share: what is left of `total` after jank (compile), the toolchain
    /// (build) and the pages (load).
    pub fn own(&self) -> f64 {
        (self.total - self.stages[1] - self.stages[2] - self.stages[5]).max(0.0)
    }
}

/// What one scenario measured, summarised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScenarioResult {
    /// The name `--scenarios` takes.
    pub name: String,
    /// One line for the table.
    pub title: String,
    pub samples: usize,
    /// In [`STAGES`] order.
    pub stages: Vec<StageSummary>,
    /// Inside the sidecar: command receipt to the last ack.
    pub end_to_end: Summary,
    /// The bench's clock around the request; `None` where nothing went through the sidecar.
    pub round_trip: Option<Summary>,
    /// `total - compile - build - load`; `None` where nothing went through the sidecar.
    pub own: Option<Summary>,
    /// How the numbers were obtained, when that is not the obvious way.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StageSummary {
    pub stage: String,
    #[serde(flatten)]
    pub summary: Summary,
}

impl ScenarioResult {
    pub fn from_samples(name: &str, title: &str, samples: &[Sample]) -> ScenarioResult {
        let series = |f: &dyn Fn(&Sample) -> f64| Summary::of(&samples.iter().map(f).collect::<Vec<_>>());
        ScenarioResult {
            name: name.to_string(),
            title: title.to_string(),
            samples: samples.len(),
            stages: STAGES
                .iter()
                .enumerate()
                .map(|(i, stage)| StageSummary { stage: stage.to_string(), summary: series(&|s| s.stages[i]) })
                .collect(),
            end_to_end: series(&|s| s.total),
            round_trip: Some(series(&|s| s.round_trip)),
            own: Some(series(&Sample::own)),
            notes: Vec::new(),
        }
    }

    /// For timings taken outside the sidecar (a build alone, the seed's way).
    pub fn outside_sidecar(mut self) -> Self {
        self.round_trip = None;
        self.own = None;
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The p50 of a stage by name (0 when absent).
    pub fn stage_p50(&self, stage: &str) -> f64 {
        self.stages.iter().find(|s| s.stage == stage).map_or(0.0, |s| s.summary.p50)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_share_is_what_jank_the_toolchain_and_pages_leave() {
        let sample = Sample { stages: [0.5, 2.0, 40.0, 0.3, 3.0, 1.0], total: 47.5, round_trip: 48.0 };
        assert!((sample.own() - 4.5).abs() < 1e-9);
        let cached = Sample { stages: [0.5, 0.0, 0.1, 0.3, 3.0, 1.0], total: 0.9, round_trip: 1.0 };
        assert_eq!(cached.own(), 0.0, "never negative");
    }

    #[test]
    fn scenario_summarises_every_stage() {
        let samples: Vec<Sample> = (1..=4)
            .map(|i| Sample {
                stages: [0.0, 1.0, f64::from(i) * 10.0, 0.0, 2.0, 1.0],
                total: f64::from(i) * 10.0 + 4.0,
                round_trip: 0.0,
            })
            .collect();
        let result = ScenarioResult::from_samples("small", "one small form", &samples);
        assert_eq!(result.samples, 4);
        assert_eq!(result.stages.len(), 6);
        assert_eq!(result.stage_p50("build"), 20.0);
        assert_eq!(result.end_to_end.max, 44.0);
        assert_eq!(result.own.map(|o| o.p50), Some(2.0));
    }
}
