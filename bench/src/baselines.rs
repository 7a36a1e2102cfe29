//! The ways to patch that have no sidecar, measured in the same run and the same pages as
//! ours: the same form's C++ from jank's `wasm-compile-patch` nREPL op, built, then sent to
//! the pages and loaded there through the bench's own socket (`channel`).
//!
//! - `original`: the original exploration's way, as its Node server ran it: `emcc
//!   -sSIDE_MODULE=1 -O2 -fPIC -std=c++20` in the stock environment, per patch (plus
//!   `-sWASM_BIGINT=1`, without which its modules cannot load in these pages).
//! - `emcc-o0`: stock emcc with our flags (`-O0` ...), so that the ratio separates what emcc
//!   costs from what `-O2` costs.
//! - `floor`: the bare toolchain commands, clang++ then wasm-ld, with the flags emcc passes,
//!   nothing else; the C++ is asked for before the clock starts.
//!
//! Owns: those commands and their environment. Must not touch the sidecar.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::channel::{Channel, Delivered};
use super::rig::{Rig, NS};
use super::stats::{Sample, ScenarioResult};
use super::BenchError;
use jank_hotpatch::compile::COMPILE_OP;
use jank_hotpatch::config::Settings;
use jank_hotpatch::nrepl::{Client, ClientOptions, Message};
use jank_hotpatch::side_module::{SideModuleBuilder, SIDE_MODULE_FLAGS};
use jank_hotpatch::stages::PatchId;

/// The original exploration's flags (its `EMCC_FLAGS`, without its jank include dirs: the
/// fork's patch C++ includes only `<stdint.h>`), plus `-sWASM_BIGINT=1`: the pages' main
/// module is built with it, and without it emcc splits the `long long` imports into 32-bit
/// halves and the module cannot load (LinkError: imported function does not match).
const ORIGINAL_FLAGS: [&str; 5] = ["-sSIDE_MODULE=1", "-O2", "-fPIC", "-std=c++20", "-sWASM_BIGINT=1"];

/// Where Debian's node finds acorn, which emscripten's `-O2` links need.
const NODE_PATH: &str = "/usr/share/nodejs";

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Patch ids far above the sidecar's: a page's symbol table must never see one id twice.
const ID_BASE: u64 = 900_000_000;

/// A way to patch without the sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Floor,
    EmccO0,
    Original,
}

impl Way {
    /// The name `--scenarios` takes.
    pub fn name(self) -> &'static str {
        match self {
            Way::Floor => "floor",
            Way::EmccO0 => "emcc-o0",
            Way::Original => "original",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Way::Floor => "floor: bare clang++ + wasm-ld + load",
            Way::EmccO0 => "stock emcc -O0, our flags",
            Way::Original => "original way (emcc -O2 per patch)",
        }
    }

    /// The form it patches: its own, so no scenario sees another's values.
    fn form(self) -> &'static str {
        match self {
            Way::Floor => "bench-floor",
            Way::EmccO0 => "bench-emcc",
            Way::Original => "bench-original",
        }
    }
}

/// `warmup` unmeasured then `iterations` measured patches the `way`; any failure ends it.
pub async fn measure(rig: &mut Rig, way: Way, warmup: usize, iterations: usize) -> Result<ScenarioResult, BenchError> {
    let mut baseline = Baseline::start(rig, way).await?;
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let sample = baseline.sample(rig).await?;
        if i >= warmup {
            samples.push(sample);
        }
    }
    Ok(baseline.row(&samples))
}

/// One way's tools, jank connection and socket to the pages, patch after patch.
pub struct Baseline {
    way: Way,
    jank: Jank,
    dir: PathBuf,
    /// The floor's commands come from a builder of the sidecar's defaults.
    floor: Option<SideModuleBuilder>,
    channel: Channel,
    environment: Option<Environment>,
}

impl Baseline {
    pub async fn start(rig: &Rig, way: Way) -> Result<Baseline, BenchError> {
        let jank = Jank::connect(&nrepl_endpoint(rig.workspace())?).await?;
        let dir = rig.scratch().join(way.name());
        std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
        let floor = match way {
            Way::Floor => Some(
                SideModuleBuilder::new(&Settings::default().build, &dir.join("builder"))
                    .await
                    .map_err(|e| BenchError::Missing(format!("the toolchain: {e}")))?,
            ),
            _ => None,
        };
        let channel = Channel::open(rig.pages()).await?;
        Ok(Baseline { way, jank, dir, floor, channel, environment: None })
    }

    /// One patch of the way's form with a new value, checked on every page.
    pub async fn sample(&mut self, rig: &mut Rig) -> Result<Sample, BenchError> {
        let way = self.way;
        let value = rig.fresh_value();
        let code = format!("(defn {} [] {value})", way.form());
        let id = ID_BASE + value as u64;
        let cpp_path = self.dir.join(format!("patch_{id}.cpp"));
        let wasm = self.dir.join(format!("patch_{id}.wasm"));

        let (started, compile_ms, cpp) = match &self.floor {
            Some(_) => {
                let cpp = self.jank.cpp(&code, id).await?;
                (Instant::now(), None, cpp)
            }
            None => {
                let started = Instant::now();
                let cpp = self.jank.cpp(&code, id).await?;
                (started, Some(ms(started)), cpp)
            }
        };
        let build_started = Instant::now();
        std::fs::write(&cpp_path, &cpp).map_err(|e| BenchError::io(format!("write {}", cpp_path.display()), e))?;
        match (&self.floor, way) {
            (Some(builder), _) => {
                let object = wasm.with_extension("o");
                for (program, args) in builder.process_commands(&cpp_path, &object, &wasm) {
                    run(&program, &args, &[]).await?;
                }
            }
            (None, Way::Original) => {
                self.environment = Some(emcc(&ORIGINAL_FLAGS, &cpp_path, &wasm, self.environment).await?)
            }
            (None, _) => self.environment = Some(emcc(&SIDE_MODULE_FLAGS, &cpp_path, &wasm, self.environment).await?),
        }
        let module = std::fs::read(&wasm).map_err(|e| BenchError::io(format!("read {}", wasm.display()), e))?;
        let build_ms = ms(build_started);
        let Delivered { deliver_ms, load_ms } = self.channel.deliver(id, &PatchId(id).entry_symbol(), &module).await?;
        let clock = ms(started);
        rig.check_pages(way.form(), value).await?;
        let stages = [None, compile_ms, Some(build_ms), None, Some(deliver_ms), Some(load_ms)];
        Ok(Sample { stages, clock, sidecar: None, steps: None })
    }

    /// The way's row from its measured samples, with how it was measured.
    pub fn row(&self, samples: &[Sample]) -> ScenarioResult {
        let env_text = match self.environment {
            Some(Environment::NodePath) => format!("the stock environment failed, so NODE_PATH={NODE_PATH} was set"),
            _ => "the stock environment (EMSDK_PYTHON and NODE_PATH unset)".to_string(),
        };
        let delivery = "sent over the bench's WebSocket and loaded in the same pages by a bare script \
                        (FS.writeFile, then jank_hot_reload_load_patch: dlopen + dlsym + bind)";
        let how = match self.way {
            Way::Floor => format!("the same C++ (asked of jank before the clock starts), then only clang++ and wasm-ld with emcc's flags; {delivery}"),
            Way::EmccO0 => format!("jank's wasm-compile-patch over nREPL, then `emcc {}` in {env_text}; {delivery}", SIDE_MODULE_FLAGS.join(" ")),
            Way::Original => format!("jank's wasm-compile-patch over nREPL, then `emcc {}` in {env_text}; {delivery}", ORIGINAL_FLAGS.join(" ")),
        };
        ScenarioResult::from_samples(self.way.name(), self.way.title(), samples).with_note(how)
    }
}

/// The environment emcc ran in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Environment {
    Stock,
    NodePath,
}

/// Builds with `emcc flags`: stock first; if that fails, once more with NODE_PATH, and from
/// then on whatever worked (`known`).
async fn emcc(flags: &[&str], cpp: &Path, wasm: &Path, known: Option<Environment>) -> Result<Environment, BenchError> {
    let tries: &[Environment] = match known {
        Some(Environment::NodePath) => &[Environment::NodePath],
        Some(Environment::Stock) => &[Environment::Stock],
        None => &[Environment::Stock, Environment::NodePath],
    };
    let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
    args.extend([cpp.into(), "-o".into(), wasm.into()]);
    let mut failure = None;
    for environment in tries {
        let node_path: &[(&str, &str)] = match environment {
            Environment::NodePath => &[("NODE_PATH", NODE_PATH)],
            Environment::Stock => &[],
        };
        match run(Path::new("emcc"), &args, node_path).await {
            Ok(()) => return Ok(*environment),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| BenchError::Build("emcc was not run".into())))
}

/// Runs one tool in the stock environment (EMSDK_PYTHON and NODE_PATH unset, then `env`);
/// a failure or a missing output is an error with the tool's last lines.
async fn run(program: &Path, args: &[OsString], env: &[(&str, &str)]) -> Result<(), BenchError> {
    let mut command = Command::new(program);
    command.args(args).env_remove("EMSDK_PYTHON").env_remove("NODE_PATH").envs(env.iter().copied());
    command.stdin(Stdio::null()).kill_on_drop(true);
    let name = program.display().to_string();
    let output = match tokio::time::timeout(BUILD_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BenchError::Missing(format!("{name} not found: {}", jank_hotpatch::side_module::INSTALL_HINT)))
        }
        Ok(Err(e)) => return Err(BenchError::Spawn { what: name, source: e }),
        Err(_) => return Err(BenchError::Timeout(format!("{name} ({} s)", BUILD_TIMEOUT.as_secs()))),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        return Err(BenchError::Build(format!("{name} failed ({}): {}", output.status, tail.join(" | "))));
    }
    Ok(())
}

fn nrepl_endpoint(workspace: &Path) -> Result<String, BenchError> {
    let file: PathBuf = workspace.join(jank_hotpatch::nrepl::PORT_FILE);
    let port = std::fs::read_to_string(&file).map_err(|e| BenchError::io(format!("read {}", file.display()), e))?;
    Ok(format!("127.0.0.1:{}", port.trim()))
}

/// A session on jank's nREPL server, as the original exploration's server held one.
pub struct Jank {
    client: Client,
    session: String,
}

impl Jank {
    async fn connect(endpoint: &str) -> Result<Jank, BenchError> {
        let failed =
            |e: jank_hotpatch::nrepl::NreplError| BenchError::Build(format!("jank's nREPL server at {endpoint}: {e}"));
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
            self.client.request(message).await.map_err(|e| BenchError::Build(format!("{COMPILE_OP}: {e}")))?;
        if let Some(error) = response.error_message() {
            return Err(BenchError::Build(format!("{COMPILE_OP} of `{code}` failed: {error}")));
        }
        match response.get_str("cpp-code") {
            Some(cpp) if !cpp.trim_start().starts_with("// ERROR") => Ok(cpp.to_string()),
            _ => Err(BenchError::Build(format!("{COMPILE_OP} of `{code}` gave no C++: {response}"))),
        }
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
