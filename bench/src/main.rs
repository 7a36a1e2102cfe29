//! `jank-hotpatch-bench`: the command line of the benchmark (see the library's header).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Measure the whole loop, edit to applied, stage by stage, on the editor's clock, against the
/// original exploration's way (emcc -O2 per patch), stock emcc -O0 and the bare toolchain
/// (the floor), all in the same run and pages. Compile is done by jank-standin, which stands
/// in for jank.
#[derive(Parser)]
#[command(name = "jank-hotpatch-bench", version)]
struct Cli {
    /// Measured patches per scenario, after warm-up.
    #[arg(long, default_value_t = jank_hotpatch_bench::DEFAULT_ITERATIONS)]
    iterations: usize,
    /// Patches before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// A few iterations of every scenario, failing on any failed patch (the test command's).
    #[arg(long)]
    smoke: bool,
    /// Write the results as JSON here (default docs/bench.json for a full run).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Replace the benchmark section of this README with this run's table.
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
    /// Measure nothing: render this run's JSON again (table, chart to --svg or
    /// docs/bench.svg, and --readme).
    #[arg(long, value_name = "FILE")]
    from_json: Option<PathBuf>,
    /// Write the chart here (default docs/bench.svg for a full run).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Pages in the one-form scenarios.
    #[arg(long, default_value_t = 1)]
    pages: usize,
    /// Scenarios to run (default all): small, small-idle, save-page, save-watch, floor, emcc-o0,
    /// original, cache, undo, save5, macro20, headers, pages10, soak.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("JANK_HOTPATCH_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    if let Some(json) = &cli.from_json {
        let svg = cli.svg.unwrap_or_else(|| PathBuf::from(jank_hotpatch_bench::DEFAULT_SVG));
        return jank_hotpatch_bench::render(json, &svg, cli.readme.as_deref()).map(drop).map_err(Into::into);
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let options = jank_hotpatch_bench::BenchOptions {
        iterations: cli.iterations,
        warmup: cli.warmup,
        smoke: cli.smoke,
        json: cli.json,
        readme: cli.readme,
        svg: cli.svg,
        pages: cli.pages,
        scenarios: cli.scenarios,
    };
    let result = runtime.block_on(jank_hotpatch_bench::run(options)).map(drop).map_err(Into::into);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
