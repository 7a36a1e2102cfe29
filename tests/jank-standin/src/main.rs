//! STAND-IN FOR JANK: not jank. A small nREPL server that speaks jank's protocol, for the
//! tests and the demo, on machines where jank (which needs a custom LLVM build) cannot run.
//!
//! Implements, with the request fields and reply shapes of the jank fork the seed used
//! (pfeodrippe/jank branch `nrepl`): `clone`, `describe`, `eval`, `load-file`, `close`,
//! `interrupt` (answers `done`), unknown ops (`status [error, unknown-op, done]`), and
//! `wasm-compile-patch`, which emits the same C++ as the fork's `wasm_patch_processor.cpp`.
//! It compiles and evaluates a small subset of jank: numbers, strings, keywords, nil and
//! booleans, vectors, sets, maps, `if`, `let`, `do`, `when`, `fn` (0-3 parameters, first arity),
//! `def`, `defn`, `defn-`, `defonce`, `quote`, `comment`, `ns` with `:require` (`:as`,
//! `:refer`), calls through vars, and a few functions of `clojure.core`, `clojure.set` and
//! `clojure.string`. Symbols resolve as jank's analyzer resolves them, and an unknown
//! namespace silently becomes the session's (`user`), as in jank.
//!
//! Does NOT implement: macros beyond those listed, destructuring, variadic functions, loops,
//! interop, lazy sequences, ratios (`(/ 1 2)` is `0.5`), the other ops of jank's server
//! (completions, lookup, info, ...), real interruption, or anything native.
//! See README.md for the C++ it emits and the runtime helpers that C++ imports.

mod analyze;
mod codegen;
mod reader;
mod runtime;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

const USAGE: &str = "usage: jank-standin [--port N] [--port-file PATH] [--delay-ms N] [--without-wasm-op]
  --port N           listen on 127.0.0.1:N (default 0: a free port)
  --port-file PATH   write the port there (default ./.nrepl-port)
  --delay-ms N       wait N ms before answering each wasm-compile-patch (fault tests)
  --without-wasm-op  behave like upstream jank: no wasm-compile-patch op";

struct Cli {
    port: u16,
    port_file: PathBuf,
    options: server::Options,
}

fn parse_args() -> anyhow::Result<Cli> {
    let mut cli = Cli {
        port: 0,
        port_file: PathBuf::from(jank_hotpatch::nrepl::PORT_FILE),
        options: server::Options { delay: Duration::ZERO, wasm_op: true },
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
            "--without-wasm-op" => cli.options.wasm_op = false,
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
    tracing::info!(port, port_file = %cli.port_file.display(), wasm_op = cli.options.wasm_op, "jank stand-in listening");
    tokio::select! {
        () = server::Server::new(cli.options).serve(listener) => {}
        _ = tokio::signal::ctrl_c() => {
            let _ = std::fs::remove_file(&cli.port_file);
        }
    }
    Ok(())
}
