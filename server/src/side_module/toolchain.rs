//! Finding emscripten and learning, once, the exact commands it runs for a side module, so
//! that a build can call clang++ and wasm-ld directly (no Python start-up per build).
//!
//! Owns: locating `emcc`, the probe (`emcc -v` on a tiny file), running tool processes with
//! a timeout. Must not know about patches, the cache or the PCH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::BuildError;

/// The environment every emcc call gets: without NODE_PATH, `-O2` main-module links miss
/// acorn; without EMSDK_PYTHON a pyenv shim on PATH costs ~65 ms per call.
pub(crate) const EMCC_ENV: [(&str, &str); 2] =
    [("NODE_PATH", "/usr/share/nodejs"), ("EMSDK_PYTHON", "/usr/bin/python3")];

/// The flags every side module gets, on both paths. Hidden visibility keeps everything but
/// the patch's entry and its `visibility("default")` functions out of emscripten's global
/// symbol table (problem 4 in ARCHITECTURE.md); WASM_BIGINT keeps `int64_t` imports unsplit, matching a
/// main module built with `-sWASM_BIGINT=1`.
pub const SIDE_MODULE_FLAGS: [&str; 5] = ["-sSIDE_MODULE=1", "-sWASM_BIGINT=1", "-O0", "-fPIC", "-fvisibility=hidden"];

/// A command line learned from emcc, with the probe's input and output paths replaced by
/// markers.
#[derive(Clone, Debug)]
pub(crate) struct Recipe {
    pub program: PathBuf,
    args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Literal(String),
    Input,
    Output,
}

impl Recipe {
    /// The recipe's arguments with `extra` inserted before the input, for `input` -> `output`.
    pub fn args(&self, extra: &[OsString], input: &Path, output: &Path) -> Vec<OsString> {
        self.args_for_inputs(extra, &[input], output)
    }

    /// The same with several inputs where the recipe has one (the objects of one link).
    pub fn args_for_inputs(&self, extra: &[OsString], inputs: &[&Path], output: &Path) -> Vec<OsString> {
        let mut out = Vec::with_capacity(self.args.len() + extra.len() + inputs.len());
        for arg in &self.args {
            match arg {
                Arg::Literal(s) => out.push(OsString::from(s)),
                Arg::Input => {
                    out.extend(extra.iter().cloned());
                    out.extend(inputs.iter().map(OsString::from));
                }
                Arg::Output => out.push(output.into()),
            }
        }
        out
    }

    /// The flags alone (no input, output, `-c` or `-o`), e.g. to build a PCH with them.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let mut args = self.args.iter().peekable();
        while let Some(arg) = args.next() {
            match arg {
                Arg::Literal(s) if s == "-c" => {}
                Arg::Literal(s) if s == "-o" && args.peek() == Some(&&Arg::Output) => {}
                Arg::Literal(s) => flags.push(s.clone()),
                Arg::Input | Arg::Output => {}
            }
        }
        flags
    }

    fn describe(&self) -> String {
        let mut text = self.program.display().to_string();
        for arg in &self.args {
            text.push(' ');
            text.push_str(match arg {
                Arg::Literal(s) => s,
                Arg::Input => "{in}",
                Arg::Output => "{out}",
            });
        }
        text
    }
}

/// emscripten as installed here, and what its `emcc` runs for a side module.
#[derive(Clone, Debug)]
pub(crate) struct Emscripten {
    pub emcc: PathBuf,
    pub compile: Recipe,
    pub link: Recipe,
    /// Changes whenever the tools, their versions or the flags change (cache key part).
    pub fingerprint: String,
    /// What `emcc -v` says of itself and of its clang (for `doctor`).
    pub versions: String,
}

impl Emscripten {
    /// Finds `emcc` (in `root` when given, else on PATH) and probes it in `work_dir`.
    pub async fn discover(root: Option<&Path>, work_dir: &Path, timeout: Duration) -> Result<Self, BuildError> {
        let emcc = find_emcc(root)?;
        let probe_dir = work_dir.join(format!("probe-{}", std::process::id()));
        std::fs::create_dir_all(&probe_dir)
            .map_err(|e| BuildError::io(format!("create {}", probe_dir.display()), e))?;
        let result = Self::probe(&emcc, &probe_dir, timeout).await;
        // The probe's files are of no further use; a leftover is harmless.
        let _ = std::fs::remove_dir_all(&probe_dir);
        result
    }

    async fn probe(emcc: &Path, dir: &Path, timeout: Duration) -> Result<Self, BuildError> {
        let source = dir.join("probe.cpp");
        let object = dir.join("probe.o");
        let wasm = dir.join("probe.wasm");
        std::fs::write(&source, "extern \"C\" int jank_hotpatch_probe(void) { return 0; }\n")
            .map_err(|e| BuildError::io(format!("write {}", source.display()), e))?;

        let mut compile_args: Vec<OsString> = vec!["-v".into()];
        compile_args.extend(SIDE_MODULE_FLAGS.iter().map(OsString::from));
        compile_args.extend(["-c".into(), source.clone().into(), "-o".into(), object.clone().into()]);
        let compile_log = run_probe(emcc, &compile_args, timeout).await?;
        let compile = find_recipe(&compile_log, "clang", &source, &object).ok_or_else(|| {
            BuildError::ToolchainBroken(format!(
                "`emcc -v` did not show the clang command it runs; its output:\n{}",
                tail(&compile_log, 20)
            ))
        })?;

        let mut link_args: Vec<OsString> = vec!["-v".into()];
        link_args.extend(SIDE_MODULE_FLAGS.iter().map(OsString::from));
        link_args.extend([object.clone().into(), "-o".into(), wasm.clone().into()]);
        let link_log = run_probe(emcc, &link_args, timeout).await?;
        let link = find_recipe(&link_log, "wasm-ld", &object, &wasm).ok_or_else(|| {
            BuildError::ToolchainBroken(format!(
                "`emcc -v` did not show the wasm-ld command it runs; its output:\n{}",
                tail(&link_log, 20)
            ))
        })?;

        let version = compile_log.lines().find(|l| l.contains("clang version")).unwrap_or("").trim();
        let fingerprint = blake3::hash(
            format!("{}\n{}\n{}\n{}", emcc.display(), version, compile.describe(), link.describe()).as_bytes(),
        )
        .to_hex()
        .to_string();
        // `emcc -v` does not print its own version, but the clang command it shows defines it.
        let part = |name: &str| {
            let key = format!("-D__EMSCRIPTEN_{name}__=");
            compile_log.split_whitespace().find_map(|w| w.strip_prefix(key.as_str())).unwrap_or("?").to_string()
        };
        let versions = format!("emscripten {}.{}.{}, {version}", part("major"), part("minor"), part("tiny"));
        Ok(Emscripten { emcc: emcc.to_path_buf(), compile, link, fingerprint, versions })
    }

    /// True when the tools emcc runs are there to be called directly.
    pub fn has_direct_tools(&self) -> bool {
        self.compile.program.is_file() && self.link.program.is_file()
    }
}

pub(crate) fn find_emcc(root: Option<&Path>) -> Result<PathBuf, BuildError> {
    let candidates: Vec<PathBuf> = match root {
        Some(root) => vec![root.join("emcc"), root.join("bin").join("emcc")],
        None => std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).map(|dir| dir.join("emcc")).collect())
            .unwrap_or_default(),
    };
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        BuildError::ToolchainMissing(match root {
            Some(root) => format!("no emcc in build.emscriptenRoot ({})", root.display()),
            None => "emcc is not on PATH".to_string(),
        })
    })
}

async fn run_probe(emcc: &Path, args: &[OsString], timeout: Duration) -> Result<String, BuildError> {
    let out = run_tool(emcc, args, true, timeout).await?;
    if !out.success {
        return Err(BuildError::ToolchainBroken(format!(
            "`{} -v` failed on a one-line file:\n{}",
            emcc.display(),
            tail(&out.stderr, 20)
        )));
    }
    Ok(out.stderr)
}

/// The first command in emcc's `-v` log whose program name contains `tool`, with the probe's
/// input and output turned into markers. clang's own `-cc1` line is skipped.
fn find_recipe(log: &str, tool: &str, input: &Path, output: &Path) -> Option<Recipe> {
    let input = input.to_string_lossy();
    let output = output.to_string_lossy();
    log.lines().find_map(|line| {
        let words = split_words(line.trim());
        let (program, rest) = words.split_first()?;
        let name = Path::new(program).file_name()?.to_string_lossy().into_owned();
        if !name.contains(tool) || rest.iter().any(|w| w == "-cc1") || !Path::new(program).is_absolute() {
            return None;
        }
        let args = rest
            .iter()
            .filter(|w| w.as_str() != "-v")
            .map(|w| match w.as_str() {
                w if w == input => Arg::Input,
                w if w == output => Arg::Output,
                w => Arg::Literal(w.to_string()),
            })
            .collect::<Vec<_>>();
        (args.contains(&Arg::Input) && args.contains(&Arg::Output))
            .then(|| Recipe { program: PathBuf::from(program), args })
    })
}

/// Splits a command line as emcc or `clang -###` prints it (shell quoting with `"` and `'`;
/// inside `"`, a backslash escapes the next character).
pub(crate) fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The last `n` lines of a tool's output.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a finished tool run left behind.
pub(crate) struct ToolOutput {
    pub success: bool,
    pub stderr: String,
}

/// Runs `program` with a time limit. A tool killed by a signal or past the limit is an
/// error of its own; a non-zero exit is a normal output (the caller reads its stderr).
pub(crate) async fn run_tool(
    program: &Path,
    args: &[OsString],
    emcc_env: bool,
    timeout: Duration,
) -> Result<ToolOutput, BuildError> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout can kill emcc's children (clang) too.
        .process_group(0);
    if emcc_env {
        command.envs(EMCC_ENV);
    }
    let tool = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::ToolchainMissing(format!("{} is missing", program.display()))
        } else {
            BuildError::io(format!("start {}", program.display()), e)
        }
    })?;
    let pid = child.id();
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|e| BuildError::io(format!("wait for {tool}"), e))?,
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            return Err(BuildError::Timeout { tool, ms: timeout.as_millis() as u64 });
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = output.status.signal() {
            return Err(BuildError::Crashed { tool, signal, stderr: tail(&stderr, 20) });
        }
    }
    Ok(ToolOutput { success: output.status.success(), stderr })
}

/// Kills the process group the timed-out tool leads (dropping the child kills only it).
pub(crate) fn kill_group(pid: u32) {
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = killed {
        tracing::warn!("could not kill the timed-out build (process group {pid}): {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_shell_quoting() {
        assert_eq!(
            split_words(r#" "/usr/bin/clang++-14" -target wasm32 'a b' -DX="1 2" "-DY=\"q\" \\ \$""#),
            vec!["/usr/bin/clang++-14", "-target", "wasm32", "a b", "-DX=1 2", r#"-DY="q" \ $"#]
        );
    }

    #[test]
    fn recipe_is_found_and_cc1_skipped() {
        let log = "emcc: something\n \"/usr/bin/clang++-14\" -target wasm32 -v -O0 -c /p/in.cpp -o /p/out.o\n \"/usr/lib/llvm-14/bin/clang\" -cc1 -o /p/out.o -x c++ /p/in.cpp\n";
        let recipe = find_recipe(log, "clang", Path::new("/p/in.cpp"), Path::new("/p/out.o")).unwrap();
        assert_eq!(recipe.program, PathBuf::from("/usr/bin/clang++-14"));
        assert_eq!(recipe.flags(), vec!["-target", "wasm32", "-O0"]);
        let args = recipe.args(&["-Iinc".into()], Path::new("a.cpp"), Path::new("a.o"));
        assert_eq!(args, ["-target", "wasm32", "-O0", "-c", "-Iinc", "a.cpp", "-o", "a.o"].map(OsString::from));
    }
}
