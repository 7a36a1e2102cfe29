//! The seed's way, measured in the same run as ours: the same form's C++ from jank's
//! `wasm-compile-patch` nREPL op, built as the seed's Node server built it (`emcc
//! -sSIDE_MODULE=1 -O2 -fPIC -std=c++20`, in the stock environment), then delivered and
//! loaded. The seed's server cannot take part in our pages' protocol, so its deliver and load
//! are taken as our own measured p50s (the same page path), and the output says so.
//!
//! Owns: the baseline's commands and environment. Must not touch the sidecar.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::rig::{Rig, NS, SMALL_FORM};
use super::stats::{Sample, ScenarioResult};
use super::{BenchError, SeedBaseline};
use jank_hotpatch::compile::COMPILE_OP;
use jank_hotpatch::nrepl::{Client, ClientOptions, Message};

/// The seed's flags (hot_reload_server.cjs, `EMCC_FLAGS`, without its jank include dirs:
/// the fork's patch C++ includes only `<stdint.h>`).
const SEED_FLAGS: [&str; 4] = ["-sSIDE_MODULE=1", "-O2", "-fPIC", "-std=c++20"];

/// What recipes.md says `-O2` emscripten links need on Debian when acorn is not found.
const NODE_PATH: &str = "/usr/share/nodejs";

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// `iterations` builds the seed's way (after one unmeasured, which also fills emscripten's
/// cache); `ours` is the one-small-form row, whose deliver and load p50s complete the bars.
pub async fn measure(
    rig: &mut Rig,
    iterations: usize,
    ours: Option<&ScenarioResult>,
) -> Result<(ScenarioResult, SeedBaseline), BenchError> {
    let jank = Jank::connect(&nrepl_endpoint(rig.workspace())?).await?;
    let dir = rig.scratch().join("seed");
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    let (deliver, load) = ours.map_or((0.0, 0.0), |o| (o.stage_p50("deliver"), o.stage_p50("load")));

    let mut environment = None;
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..=iterations {
        let value = rig.fresh_value();
        let code = format!("(defn {SMALL_FORM} [] {value})");
        // Ids far from the sidecar's, which never meet these modules anyway.
        let id = 900_000_000 + value as u64;
        let started = Instant::now();
        let cpp = jank.cpp(&code, id).await?;
        let compile_ms = ms(started);
        let cpp_path = dir.join(format!("patch_{id}.cpp"));
        std::fs::write(&cpp_path, &cpp).map_err(|e| BenchError::io(format!("write {}", cpp_path.display()), e))?;
        let started = Instant::now();
        let used = emcc(&cpp_path, &dir.join(format!("patch_{id}.wasm")), environment).await?;
        let build_ms = ms(started);
        environment = Some(used);
        if i > 0 {
            let stages = [0.0, compile_ms, build_ms, 0.0, deliver, load];
            samples.push(Sample { stages, total: stages.iter().sum(), round_trip: 0.0 });
        }
    }

    let env_text = match environment {
        Some(Environment::NodePath) => format!("the stock environment failed, so NODE_PATH={NODE_PATH} was set"),
        _ => "the stock environment (EMSDK_PYTHON and NODE_PATH unset)".to_string(),
    };
    let deliver_text = match ours {
        Some(_) => "plus our measured deliver + load p50 (the same page path; the seed's server cannot speak our pages' protocol)",
        None => "without deliver and load (the small-form scenario did not run)",
    };
    let method = format!(
        "jank's wasm-compile-patch over nREPL, then `emcc {}` in {env_text}, {deliver_text}",
        SEED_FLAGS.join(" ")
    );
    let row = ScenarioResult::from_samples("seed", "the seed's way", &samples).outside_sidecar();
    let ratio = ours.filter(|_| row.end_to_end.p50 > 0.0).map(|o| o.end_to_end.p50 / row.end_to_end.p50);
    Ok((row, SeedBaseline { method, ratio }))
}

/// The environment emcc ran in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Environment {
    Stock,
    NodePath,
}

/// Builds like the seed: stock first; if that fails, once more with NODE_PATH, and from then
/// on whatever worked (`known`).
async fn emcc(cpp: &Path, wasm: &Path, known: Option<Environment>) -> Result<Environment, BenchError> {
    let tries: &[Environment] = match known {
        Some(Environment::NodePath) => &[Environment::NodePath],
        Some(Environment::Stock) => &[Environment::Stock],
        None => &[Environment::Stock, Environment::NodePath],
    };
    let mut failure = String::new();
    for environment in tries {
        let mut command = Command::new("emcc");
        command.args(SEED_FLAGS).arg(cpp).arg("-o").arg(wasm).env_remove("EMSDK_PYTHON").env_remove("NODE_PATH");
        if *environment == Environment::NodePath {
            command.env("NODE_PATH", NODE_PATH);
        }
        command.stdin(Stdio::null()).kill_on_drop(true);
        let output = match tokio::time::timeout(BUILD_TIMEOUT, command.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BenchError::Missing("emcc not found: apt-get install emscripten".into()))
            }
            Ok(Err(e)) => return Err(BenchError::Spawn { what: "emcc".into(), source: e }),
            Err(_) => return Err(BenchError::Timeout(format!("emcc building {} (120 s)", cpp.display()))),
        };
        if output.status.success() && wasm.exists() {
            return Ok(*environment);
        }
        failure = String::from_utf8_lossy(&output.stderr).lines().rev().take(10).collect::<Vec<_>>().join(" | ");
    }
    Err(BenchError::Seed(format!("emcc {} failed: {failure}", SEED_FLAGS.join(" "))))
}

fn nrepl_endpoint(workspace: &Path) -> Result<String, BenchError> {
    let file = workspace.join(".nrepl-port");
    let port = std::fs::read_to_string(&file).map_err(|e| BenchError::io(format!("read {}", file.display()), e))?;
    Ok(format!("127.0.0.1:{}", port.trim()))
}

/// A session on jank's nREPL server, as the seed's server held one.
struct Jank {
    client: Client,
    session: String,
}

impl Jank {
    async fn connect(endpoint: &str) -> Result<Jank, BenchError> {
        let failed =
            |e: jank_hotpatch::nrepl::NreplError| BenchError::Seed(format!("jank's nREPL server at {endpoint}: {e}"));
        let client = Client::connect(endpoint, ClientOptions::default()).await.map_err(failed)?;
        let session = client.clone_session(None).await.map_err(failed)?;
        Ok(Jank { client, session })
    }

    /// jank's C++ for `code` in [`NS`], from the `wasm-compile-patch` op.
    async fn cpp(&self, code: &str, patch_id: u64) -> Result<String, BenchError> {
        let message = Message::op(COMPILE_OP)
            .with("session", self.session.as_str())
            .with("code", code)
            .with("ns", NS)
            .with("patch-id", patch_id.to_string());
        let response =
            self.client.request(message).await.map_err(|e| BenchError::Seed(format!("{COMPILE_OP}: {e}")))?;
        if let Some(error) = response.error_message() {
            return Err(BenchError::Seed(format!("{COMPILE_OP} of `{code}` failed: {error}")));
        }
        match response.get_str("cpp-code") {
            Some(cpp) if !cpp.trim_start().starts_with("// ERROR") => Ok(cpp.to_string()),
            _ => Err(BenchError::Seed(format!("{COMPILE_OP} of `{code}` gave no C++: {response}"))),
        }
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
