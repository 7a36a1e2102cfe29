//! The suite's figures: one line per measure, prefixed `reliability:`, printed and appended
//! to `target/reliability-figures.txt` (test output is captured unless `--nocapture`, so the
//! test script prints that file at the end; it deletes it before the run).

use std::io::Write;
use std::path::PathBuf;

pub const FIGURES_FILE: &str = "reliability-figures.txt";

/// The workspace's target directory (`CARGO_TARGET_DIR`, else `<repo>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Records one figure, e.g. `record("inputs tried: reader 10000, panics 0")`.
pub fn record(line: &str) {
    let line = format!("reliability: {line}");
    println!("{line}");
    let path = target_dir().join(FIGURES_FILE);
    let written =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot append to {}: {e}", path.display());
    }
}
