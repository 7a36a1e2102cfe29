//! STAND-IN FOR JANK: not jank. A small nREPL server that speaks jank's protocol, for the
//! tests and the demo, on machines where jank (which needs a custom LLVM build) cannot run.
//!
//! Plays one of three jank servers (`--mode`, see `mode.rs`): `contract` (what jank-hotpatch's
//! design asks of jank; the default, so the demo shows the design), `fork` (pfeodrippe/jank
//! branch `nrepl` as it is, quirks included) and `upstream` (jank-lang/jank: no op). Implements
//! `clone`, `describe`, `eval`, `load-file`, `close`, `interrupt` (answers `done`), upstream's
//! `lookup` (an empty answer) and `completions` (vars by prefix), unknown ops, and `wasm-compile-patch`, which
//! emits the same C++ as the fork's `wasm_patch_processor.cpp`.
//! It compiles and evaluates a small subset of jank: numbers, strings, keywords, nil and
//! booleans, vectors, sets, maps, `if`, `let`, `do`, `when`, `fn` (0-3 parameters, first arity),
//! `def`, `defn`, `defn-`, `defonce`, `defmacro` (expanded at analysis time with the macro's
//! definition as last evaluated on this side, as jank does), `quote`, `comment`, `ns` with
//! `:require` (`:as`, `:refer`), calls through vars, and the functions the demo's page runtime
//! has (`runtime::PAGE_FNS`). Symbols resolve as jank's analyzer resolves them, and an unknown
//! namespace silently becomes the session's (`user`), as in jank.
//!
//! `loop` is analysed as a `let`; `recur`, `throw`, `try`, `case`, `letfn` compile to the fork's
//! `// unsupported expr` and are not evaluated.
//! Does NOT implement: syntax-quote (refused when read; macros build code with `list` and
//! `quote`), destructuring, variadic functions,
//! interop, lazy sequences, ratios (`(/ 1 2)` is `0.5`), the other ops of jank's server
//! (info, complete, ...), real interruption, `*e`, or anything native.
//! See README.md for the C++ it emits and the runtime helpers that C++ imports.

mod analyze;
mod codegen;
mod mode;
mod reader;
mod runtime;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use mode::{Mode, Upstream};

const USAGE: &str = "usage: jank-standin [--mode contract|fork|upstream] [--upstream-version 2026-08|2026-09] [--port N] [--port-file PATH] [--delay-ms N] [--version]
  --mode M           which jank to play (default contract):
                       contract  what jank-hotpatch asks of jank (the op respects ns, errors carry positions)
                       fork      pfeodrippe/jank branch nrepl as it is (analyses in user, no positions)
                       upstream  jank-lang/jank: no wasm-compile-patch op
  --upstream-version V   which upstream nREPL (default 2026-08): 2026-08 (errors in `value`),
                         2026-09 (errors in `err` and `ex`, completions with referred vars)
  --port N           listen on 127.0.0.1:N (default 0: a free port)
  --port-file PATH   write the port there (default ./.nrepl-port)
  --delay-ms N       wait N ms before answering each wasm-compile-patch, which it logs
                     on arrival ('wasm-compile-patch received'; fault tests wait for it)";

struct Cli {
    port: u16,
    port_file: PathBuf,
    options: server::Options,
}

fn parse_args() -> anyhow::Result<Cli> {
    let mut cli = Cli {
        port: 0,
        port_file: PathBuf::from(jank_hotpatch::nrepl::PORT_FILE),
        options: server::Options { delay: Duration::ZERO, mode: Mode::Contract, upstream: Upstream::August2026 },
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--port" => cli.port = value("--port")?.parse().context("--port expects a number")?,
            "--port-file" => cli.port_file = PathBuf::from(value("--port-file")?),
            "--delay-ms" => {
                cli.options.delay =
                    Duration::from_millis(value("--delay-ms")?.parse().context("--delay-ms expects a number")?)
            }
            "--mode" => {
                let name = value("--mode")?;
                cli.options.mode = Mode::parse(&name)
                    .with_context(|| format!("--mode expects one of {}, not {name:?}\n{USAGE}", Mode::NAMES))?;
            }
            "--version" => {
                println!("jank-standin {} (stands in for jank; not jank)", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--upstream-version" => {
                let name = value("--upstream-version")?;
                cli.options.upstream = Upstream::parse(&name).with_context(|| {
                    format!("--upstream-version expects one of {}, not {name:?}\n{USAGE}", Upstream::NAMES)
                })?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(cli)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = parse_args()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port)).await.context("cannot listen")?;
    let port = listener.local_addr()?.port();
    std::fs::write(&cli.port_file, port.to_string())
        .with_context(|| format!("cannot write {}", cli.port_file.display()))?;
    tracing::info!(port, port_file = %cli.port_file.display(), mode = %cli.options.mode, "jank stand-in listening");
    tokio::select! {
        () = server::Server::new(cli.options).serve(listener) => {}
        _ = tokio::signal::ctrl_c() => {
            let _ = std::fs::remove_file(&cli.port_file);
        }
    }
    Ok(())
}
