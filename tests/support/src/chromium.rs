//! Where Chromium is and how it is started here: one list of flags for the tests, the
//! reliability suite and the benchmark.

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Flags that let Chromium run unattended in a container (no sandbox, no GPU, no first-run
/// prompts), plus exact memory figures and a
/// DevTools port of its own choosing.
pub const FLAGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-precise-memory-info",
    "--js-flags=--expose-gc",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
];
