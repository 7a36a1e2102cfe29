//! Percentiles of timing series, for the benchmarks and the figures tests print.

use serde::{Deserialize, Serialize};

/// p50 / p95 / max of one series, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    /// Nearest-rank percentiles; an empty series summarises to zeros.
    pub fn of(values: &[f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Summary { p50: rank(0.50), p95: rank(0.95), max: sorted[sorted.len() - 1] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(Summary::of(&values), Summary { p50: 50.0, p95: 95.0, max: 100.0 });
        assert_eq!(Summary::of(&[7.0]), Summary { p50: 7.0, p95: 7.0, max: 7.0 });
        assert_eq!(Summary::of(&[3.0, 1.0, 2.0]), Summary { p50: 2.0, p95: 3.0, max: 3.0 });
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}
