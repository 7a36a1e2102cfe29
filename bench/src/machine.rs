//! The machine a run measured on and when: printed with the table and kept in the JSON, so
//! that the README's figures say where they come from.
//!
//! Owns: reading the CPU, memory, load average and the date. Must not measure patches.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    /// When the run started, UTC, `YYYY-MM-DD HH:MM`.
    pub date: String,
    /// The 1-minute load average at the start and at the end of the run.
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    /// The machine now, at the start of a run.
    pub fn now() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown CPU")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            date: utc_date(seconds),
            load_start: load_average(),
            load_end: load_average(),
        }
    }

    /// Notes the load at the end of the run.
    pub fn finish(&mut self) {
        self.load_end = load_average();
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time, by the civil-from-days algorithm.
fn utc_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_date(1_795_987_800), "2026-11-29 21:30");
    }

    #[test]
    fn reads_this_machine() {
        let machine = Machine::now();
        assert!(machine.cores >= 1 && machine.memory_gib > 0.0 && !machine.cpu.is_empty(), "{machine:?}");
        assert!(machine.load_start >= 0.0, "{machine:?}");
    }
}
