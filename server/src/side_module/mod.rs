//! The build stage: C++ -> wasm side module.
//!
//! Owns: toolchain discovery and flags, the precompiled header, the content-addressed build
//! cache, the resident build service's client, the scratch directory of a build's passing
//! files (`scratch.rs`) and the thread that writes what builds keep (`keep.rs`). Lends its
//! emcc discovery and tool runner to the main module's link (`main_module/link.rs`).
//! Must not know about jank, nREPL, LSP or pages.
//!
//! Builds of different patches may run at once: every file a build writes is named after
//! its patch id, which is never reused.

mod cache;
mod headers;
mod keep;
mod kept;
mod pch;
mod resident;
mod scratch;
mod toolchain;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{BuildSettings, Toolchain};
use crate::stages::{
    check_module_size, Build, CompiledForm, FormKey, ModuleId, PatchId, PatchesInFlight, SideModule, StageFailure,
};

pub use resident::{service_binary, ResidentStats, ServiceBinary, ServiceError, ServiceSource, MAX_REQUEST_BYTES};

use cache::ModuleCache;
use headers::IncludeDirs;
use keep::Keeper;
use kept::{KeptCpp, KEPT_PATCHES};
use resident::{RequestOutcome, ResidentBuild};
use scratch::Scratch;
use toolchain::Emscripten;
pub use toolchain::SIDE_MODULE_FLAGS;
pub(crate) use toolchain::{find_emcc, run_tool, tail};

/// What to do when emscripten is missing (the build stage's error and `doctor` say it).
pub const INSTALL_HINT: &str = "install emscripten (`apt-get install emscripten`) or set build.emscriptenRoot";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("emscripten not found: {0}; {INSTALL_HINT}")]
    ToolchainMissing(String),
    #[error("emscripten does not work: {0}")]
    ToolchainBroken(String),
    #[error("{tool} did not finish within {ms} ms (build.timeoutMs) and was killed")]
    Timeout { tool: String, ms: u64 },
    #[error("{tool} crashed (signal {signal}):\n{stderr}")]
    Crashed { tool: String, signal: i32, stderr: String },
    #[error("C++ compile failed:\n{diagnostics}")]
    Compile { diagnostics: String, cpp_path: PathBuf },
    #[error("linking the side module failed:\n{0}")]
    Link(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Pch(String),
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
}

impl BuildError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        BuildError::Io { what, source }
    }
}

/// Which tools turn a patch's C++ into a side module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tools {
    /// clang++ and wasm-ld, called with the flags emcc itself passes.
    Clang,
    /// `emcc -sSIDE_MODULE=1`.
    Emcc,
    /// clang and lld kept loaded in the build service; `Clang` when the service fails.
    Resident,
}

/// Turns a patch's C++ into a side module, with a content-addressed cache in front.
pub struct SideModuleBuilder {
    emscripten: Emscripten,
    tools: Tools,
    /// The build service, when `tools` is `Resident`.
    resident: Option<Arc<ResidentBuild>>,
    /// Why there is no build service when one was wanted (`auto` or `resident`).
    no_resident: Option<String>,
    /// Flags besides the toolchain's: include dirs, the PCH.
    extra: Vec<OsString>,
    /// The include directories' flags alone (without the PCH), for [`Self::process_commands`].
    include_flags: Vec<OsString>,
    pch: Option<PathBuf>,
    cache: Option<Arc<ModuleCache>>,
    /// Generated C++ kept for diagnostics: `<cache_dir>/cpp/patch_<id>.cpp`.
    kept: Arc<KeptCpp>,
    /// Writes the cache's entries and the kept C++ after the build.
    keeper: Keeper,
    /// Objects and modules on their way: removed after each build.
    scratch: Scratch,
    /// Toolchain, flags, PCH: what besides the form and the headers decides the module's bytes.
    fingerprint: String,
    /// `build.includeDirs`: their headers' stamp is part of each cache key.
    include_dirs: Arc<IncludeDirs>,
    /// How `pch` was made, to make it again when clang refuses it (a header in it changed).
    pch_request: Option<PchRequest>,
    /// One precompiling again at a time.
    pch_refresh: tokio::sync::Mutex<()>,
    /// How many times the PCH was precompiled again: a build refused by the PCH it started
    /// with, when a newer one was made meanwhile, builds again with that one.
    pch_generation: AtomicU64,
    timeout: Duration,
    max_module_bytes: usize,
    /// Translation units a save's forms are split into (see `build_as_one`), read once: the
    /// count reads the cgroup's CPU quota.
    cores: usize,
}

impl SideModuleBuilder {
    /// Finds emscripten and learns its commands (one `emcc -v` probe, ~0.3 s), and builds
    /// the PCH if `settings.pch_headers` asks for one and none is up to date. A cache dir
    /// that cannot be written is logged and the builder works without caching.
    pub async fn new(settings: &BuildSettings, cache_dir: &Path) -> Result<Self, BuildError> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let (cache, work_dir) = open_cache(settings, cache_dir);
        let cpp_dir = work_dir.join("cpp");
        let kept = KeptCpp::open(cpp_dir.clone(), KEPT_PATCHES)
            .map_err(|e| BuildError::io(format!("create {}", cpp_dir.display()), e))?;
        let fallback = work_dir.join("tmp");
        let scratch =
            Scratch::new(fallback.clone()).map_err(|e| BuildError::io(format!("create {}", fallback.display()), e))?;
        let tmp_dir = scratch.path();

        let emscripten = Emscripten::discover(settings.emscripten_root.as_deref(), tmp_dir, timeout).await?;
        let wanted = choose_tools(settings.toolchain, &emscripten)?;
        let include_flags = include_flags(&settings.include_dirs);
        let pch_request = PchRequest::of(settings, &emscripten, &include_flags, &work_dir);
        let pch = match &pch_request {
            Some(request) => request.prepare(&emscripten, timeout, false).await,
            None => None,
        };
        // Without a PCH (it did not build), nothing is precompiled again later either.
        let pch_request = pch_request.filter(|_| pch.is_some());
        let mut extra = include_flags.clone();
        if let Some(pch) = &pch {
            extra.extend(["-include-pch".into(), pch.into()]);
        }
        let (tools, resident, no_resident) = match wanted {
            Tools::Resident => match start_resident(settings, &emscripten, &extra, tmp_dir, timeout).await {
                Ok(resident) => (Tools::Resident, Some(resident), None),
                Err(e) => (Tools::Clang, None, Some(e.to_string())),
            },
            Tools::Clang | Tools::Emcc => (wanted, None, None),
        };
        let fingerprint = fingerprint(tools, &emscripten, settings);
        let include_dirs = Arc::new(IncludeDirs::new(settings.include_dirs.clone()));
        if !include_dirs.is_empty() {
            // Walked (and watched) now, not at the first save's lookup.
            let dirs = include_dirs.clone();
            tokio::task::spawn_blocking(move || dirs.stamp());
        }
        Ok(SideModuleBuilder {
            emscripten,
            tools,
            resident,
            no_resident,
            extra,
            include_flags,
            pch,
            cache,
            kept: Arc::new(kept),
            keeper: Keeper::new(),
            scratch,
            fingerprint,
            include_dirs,
            pch_request,
            pch_refresh: tokio::sync::Mutex::new(()),
            pch_generation: AtomicU64::new(0),
            timeout,
            max_module_bytes: crate::config::Settings::default().app.max_module_bytes,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        })
    }

    /// Larger modules fail the build (the pages refuse them anyway).
    pub fn with_max_module_bytes(mut self, limit: usize) -> Self {
        self.max_module_bytes = limit;
        self
    }

    /// What builds keep (the cache's entries, the generated C++) is written once no patch of
    /// `patches` is on its way, not beside them.
    pub fn yielding_to(self, patches: PatchesInFlight) -> Self {
        self.keeper.wait_for(patches);
        self
    }

    /// Which tools build patches, and their versions, in one line for people.
    pub fn describe_toolchain(&self) -> String {
        let clang = &self.emscripten.compile.program;
        let direct = format!(
            "{} and {} directly ({})",
            clang.display(),
            self.emscripten.link.program.display(),
            self.emscripten.versions
        );
        match self.tools {
            Tools::Clang => match &self.no_resident {
                Some(reason) => format!("{direct}; no resident build: {reason}"),
                None => direct,
            },
            Tools::Resident => match &self.resident {
                Some(resident) => {
                    let binary = resident.binary();
                    format!(
                        "the resident build service {} ({}; clang and lld kept loaded; else {direct})",
                        binary.path.display(),
                        binary.source
                    )
                }
                None => direct,
            },
            Tools::Emcc => format!("{} ({})", self.emscripten.emcc.display(), self.emscripten.versions),
        }
    }

    /// Which tools this builder calls.
    pub fn tools(&self) -> Tools {
        self.tools
    }

    /// The build service's counters, when this builder uses it.
    pub fn resident_stats(&self) -> Option<ResidentStats> {
        self.resident.as_ref().map(|r| r.stats())
    }

    /// Returns once what earlier builds keep (the cache's entries, the generated C++) is on
    /// disk, as it is when the builder is dropped.
    pub fn flush(&self) {
        self.keeper.flush();
    }

    /// The precompiled header in use, if any.
    pub fn pch(&self) -> Option<&Path> {
        self.pch.as_deref()
    }

    /// The two process commands, clang++ then wasm-ld, that turn `cpp` into `wasm` through
    /// `object` with emcc's flags and the include dirs, without PCH or cache, whatever tools
    /// this builder itself uses: what the benchmark's floor runs bare.
    pub fn process_commands(&self, cpp: &Path, object: &Path, wasm: &Path) -> [(PathBuf, Vec<OsString>); 2] {
        let (compile, link) = (&self.emscripten.compile, &self.emscripten.link);
        [
            (compile.program.clone(), compile.args(&self.include_flags, cpp, object)),
            (link.program.clone(), link.args(&[], object, wasm)),
        ]
    }

    fn cache_key(&self, key: FormKey, headers: Option<&blake3::Hash>) -> String {
        let mut h = blake3::Hasher::new();
        h.update(&key.0);
        h.update(self.fingerprint.as_bytes());
        if let Some(headers) = headers {
            h.update(headers.as_bytes());
        }
        h.finalize().to_hex()[..32].to_string()
    }

    /// The stamp of the headers under `build.includeDirs` now, when there are any; on a
    /// blocking thread, since it walks them after a change (an include dir can hold a
    /// library's headers).
    async fn headers(&self) -> Option<blake3::Hash> {
        if self.include_dirs.is_empty() {
            return None;
        }
        let dirs = self.include_dirs.clone();
        tokio::task::spawn_blocking(move || dirs.stamp()).await.ok()
    }

    /// Precompiles the headers again after clang refused the PCH because one of them changed,
    /// and restarts the build service, which opened the old one; not when it was done since
    /// the refused build started (`started_with`, the generation then). True when the PCH is
    /// fresh.
    async fn precompile_again(&self, started_with: u64) -> bool {
        let Some(request) = &self.pch_request else { return false };
        let _one_at_a_time = self.pch_refresh.lock().await;
        if self.pch_generation.load(Ordering::Acquire) != started_with {
            return true;
        }
        if request.prepare(&self.emscripten, self.timeout, true).await.is_none() {
            return false;
        }
        if let Some(resident) = &self.resident {
            resident.recycle().await;
        }
        self.pch_generation.fetch_add(1, Ordering::Release);
        tracing::info!("a header of build.pchHeaders changed: precompiled again");
        true
    }

    /// Builds the forms into one side module: as a translation unit per core when they build so,
    /// else form by form ([`SideModuleBuilder::build_each`]).
    ///
    /// clang reads each form's C++ from the scratch directory; the copy diagnostics point at
    /// (`kept.rs`) is written after the build by the keeper, or at once when a form does not
    /// compile, and its diagnostics then name that copy.
    async fn build_forms(&self, forms: &[&CompiledForm]) -> Vec<Result<SideModule, BuildError>> {
        let mut units: Vec<Result<Unit, BuildError>> = forms.iter().map(|form| Ok(self.unit(form))).collect();
        let sources: Vec<KeptSource> = units.iter().flatten().map(KeptSource::of).collect();
        let mut modules: Vec<Option<Result<SideModule, BuildError>>> = (0..units.len()).map(|_| None).collect();
        match self.build_as_one(&units).await {
            Some(bytes) => place(&units, &(0..units.len()).collect::<Vec<_>>(), bytes, &mut modules),
            None => {
                for unit in &mut units {
                    if let Some(Err(failure)) = unit.as_ref().ok().map(Unit::write) {
                        *unit = Err(failure);
                    }
                }
                self.build_each(&mut units, &mut modules).await
            }
        }
        for unit in units.iter().flatten() {
            let _ = std::fs::remove_file(&unit.object);
        }
        let built: Vec<Result<SideModule, BuildError>> = units
            .into_iter()
            .zip(modules)
            .map(|(unit, module)| match (unit, module) {
                (Err(failure), _) => Err(failure),
                (Ok(_), Some(module)) => module,
                (Ok(unit), None) => Err(BuildError::Link(format!("{} was not linked", unit.cpp.display()))),
            })
            .collect();
        for source in &sources {
            let _ = std::fs::remove_file(&source.scratch);
        }
        if built.iter().any(|b| matches!(b, Err(BuildError::Compile { .. }))) {
            sources.iter().for_each(|source| self.kept.keep(source.id, &source.text));
            return built.into_iter().map(|b| b.map_err(|e| point_at_kept(e, &sources, &self.kept))).collect();
        }
        let kept = self.kept.clone();
        self.keeper.later(move || sources.iter().for_each(|source| kept.keep(source.id, &source.text)));
        built
    }

    /// Each form's object (one that does not compile fails alone: its unit becomes its
    /// failure), then one link into `modules`. A link of several forms that fails is done
    /// again for each alone, so that a failure lands on the form it belongs to and the others
    /// go through.
    async fn build_each(
        &self,
        units: &mut [Result<Unit<'_>, BuildError>],
        modules: &mut [Option<Result<SideModule, BuildError>>],
    ) {
        // The link of every unit, when the build service made it right after compiling them.
        let mut linked_all = None;
        if self.tools != Tools::Emcc {
            let jobs: Vec<(usize, &Path, &Path)> = units
                .iter()
                .enumerate()
                .filter_map(|(i, u)| u.as_ref().ok().map(|u| (i, u.source.as_path(), u.object.as_path())))
                .collect();
            let wasm = jobs.first().and_then(|&(i, ..)| units[i].as_ref().ok()).map(|u| self.module_path(u));
            let pairs: Vec<(&Path, &Path)> = jobs.iter().map(|&(_, cpp, object)| (cpp, object)).collect();
            let (compiled, linked) = self.compile_objects(&pairs, wasm.as_deref()).await;
            let failed: Vec<(usize, BuildError)> =
                jobs.iter().zip(compiled).filter_map(|(&(i, _, _), result)| Some((i, result.err()?))).collect();
            // A link with an object missing says nothing about the ones that compiled.
            linked_all = linked.filter(|_| failed.is_empty() && jobs.len() == units.len());
            for (i, failure) in failed {
                units[i] = Err(failure);
            }
        }
        let ready: Vec<usize> = (0..units.len()).filter(|&i| units[i].is_ok()).collect();
        let mut groups = vec![ready];
        while let Some(group) = groups.pop() {
            match self.link_group(units, &group, linked_all.take()).await {
                Ok(bytes) => place(units, &group, bytes, modules),
                Err(failure) if group.len() > 1 => {
                    tracing::info!(
                        "linking {} forms into one side module failed ({failure}); linking each alone",
                        group.len()
                    );
                    groups.extend(group.iter().rev().map(|&i| vec![i]));
                }
                Err(failure) => {
                    if let Some(&i) = group.first() {
                        modules[i] = Some(Err(failure));
                    }
                }
            }
        }
    }

    /// Several forms' C++ as a few translation units (see [`one_translation_unit`]), one per
    /// core, compiled at once and linked into one module: clang's fixed cost per compile (its
    /// setup, the headers, its code generator) is paid once per core, not once per form, and
    /// the cores share the forms. `None` when there is one form, emcc builds, or it does not
    /// build: then each form is compiled alone, and a failure lands on its own form.
    async fn build_as_one(&self, units: &[Result<Unit<'_>, BuildError>]) -> Option<Arc<[u8]>> {
        if units.len() < 2 || self.tools == Tools::Emcc {
            return None;
        }
        let units: Vec<&Unit> = units.iter().map(|u| u.as_ref().ok()).collect::<Option<_>>()?;
        let parts: Vec<(PathBuf, String)> = one_part_per_core(&units, self.cores)
            .map(|part| {
                let sources: Vec<(PatchId, &str)> =
                    part.iter().map(|u| (u.form.patch_id, u.form.cpp.as_str())).collect();
                let cpp = self.scratch.path().join(format!("patch_{}_together.cpp", part[0].form.patch_id));
                Some((cpp, one_translation_unit(&sources)?))
            })
            .collect::<Option<_>>()?;
        let objects: Vec<PathBuf> = parts.iter().map(|(cpp, _)| cpp.with_extension("o")).collect();
        let wasm = self.module_path(units.first()?);
        let built = async {
            for (cpp, text) in &parts {
                std::fs::write(cpp, text).map_err(|e| BuildError::io(format!("write {}", cpp.display()), e))?;
            }
            let jobs: Vec<(&Path, &Path)> =
                parts.iter().zip(&objects).map(|((cpp, _), object)| (cpp.as_path(), object.as_path())).collect();
            let (compiled, linked) = self.compile_objects(&jobs, Some(&wasm)).await;
            compiled.into_iter().collect::<Result<Vec<()>, BuildError>>()?;
            let linked = match linked {
                Some(linked) => linked,
                None => self.link_objects(&objects.iter().map(PathBuf::as_path).collect::<Vec<_>>(), &wasm).await,
            };
            self.read_module(linked, &wasm)
        }
        .await;
        for ((cpp, _), object) in parts.iter().zip(&objects) {
            let _ = std::fs::remove_file(cpp);
            let _ = std::fs::remove_file(object);
        }
        built
            .map_err(|failure| {
                tracing::debug!(
                    "{} forms as {} translation units did not build ({failure}); each alone",
                    units.len(),
                    parts.len()
                )
            })
            .ok()
    }

    /// The side module `linked` wrote to `wasm` (removed), unless too large.
    fn read_module(&self, linked: Result<(), BuildError>, wasm: &Path) -> Result<Arc<[u8]>, BuildError> {
        let bytes = linked
            .and_then(|()| std::fs::read(wasm).map_err(|e| BuildError::io(format!("read {}", wasm.display()), e)));
        let _ = std::fs::remove_file(wasm);
        let bytes = bytes?;
        check_module_size(bytes.len(), self.max_module_bytes).map_err(BuildError::TooLarge)?;
        Ok(Arc::from(bytes))
    }

    /// The form's files: its C++ for clang and where diagnostics point, its object.
    fn unit<'a>(&self, form: &'a CompiledForm) -> Unit<'a> {
        let cpp = self.kept.path(form.patch_id);
        // The same file name as the kept copy: clang's -main-file-name, and what its messages say.
        let source = self.scratch.path().join(cpp.file_name().unwrap_or_default());
        Unit { form, source, cpp, object: self.scratch.path().join(format!("patch_{}.o", form.patch_id)) }
    }

    /// Where the side module of a group whose first unit is `first` is linked to.
    fn module_path(&self, first: &Unit) -> PathBuf {
        self.scratch.path().join(format!("module_{}.wasm", first.form.patch_id))
    }

    /// One side module's bytes from the units at `indices` (compiled already, except with emcc),
    /// named after the first one's patch id. `linked`: how its link went, when the build
    /// service linked it already.
    async fn link_group(
        &self,
        units: &[Result<Unit<'_>, BuildError>],
        indices: &[usize],
        linked: Option<Result<(), BuildError>>,
    ) -> Result<Arc<[u8]>, BuildError> {
        let group: Vec<&Unit> = indices.iter().filter_map(|&i| units[i].as_ref().ok()).collect();
        let Some(first) = group.first() else { return Err(BuildError::Link("no object to link".into())) };
        let wasm = self.module_path(first);
        let linked = match (linked, self.tools) {
            (Some(linked), _) => linked,
            (None, Tools::Emcc) => {
                self.emcc(&group.iter().map(|u| u.source.as_path()).collect::<Vec<_>>(), &wasm).await
            }
            (None, Tools::Clang | Tools::Resident) => {
                self.link_objects(&group.iter().map(|u| u.object.as_path()).collect::<Vec<_>>(), &wasm).await
            }
        };
        self.read_module(linked, &wasm)
    }

    /// `emcc -sSIDE_MODULE=1`, compile and link in one command.
    async fn emcc(&self, cpps: &[&Path], wasm: &Path) -> Result<(), BuildError> {
        let mut args: Vec<OsString> = SIDE_MODULE_FLAGS.iter().map(OsString::from).collect();
        args.extend(self.extra.iter().cloned());
        args.extend(cpps.iter().map(OsString::from));
        args.extend(["-o".into(), wasm.into()]);
        let out = run_tool(&self.emscripten.emcc, &args, true, self.timeout).await?;
        // emcc's own link errors also land here; they name the symbol, which is enough.
        match (out.success, cpps.first()) {
            (true, _) => Ok(()),
            (false, Some(cpp)) => Err(compile_failed(cpp, &out.stderr)),
            (false, None) => Err(BuildError::Link(toolchain::tail(&out.stderr, 20))),
        }
    }

    /// clang's -cc1 in the build service (several at once), else a `clang++` process each.
    /// With `wasm`, the service also links every object into it right after (how that went
    /// comes back, unless the service failed: then the caller links).
    async fn compile_objects(
        &self,
        jobs: &[(&Path, &Path)],
        wasm: Option<&Path>,
    ) -> (Vec<Result<(), BuildError>>, Option<Result<(), BuildError>>) {
        if let (Tools::Resident, Some(resident), Some((cpp, _)), Some(wasm)) =
            (self.tools, &self.resident, jobs.first(), wasm)
        {
            let (compiled, linked) = resident.compile_and_link(jobs, wasm).await;
            match compiled {
                Ok(outcomes) => {
                    let compiled = jobs
                        .iter()
                        .zip(outcomes)
                        .map(|((cpp, _), outcome)| match outcome {
                            RequestOutcome::Done { .. } => Ok(()),
                            RequestOutcome::Failed(stderr) => Err(compile_failed(cpp, &stderr)),
                        })
                        .collect();
                    return (compiled, link_outcome(resident, linked, wasm));
                }
                Err(e) => service_failed(resident, e, cpp),
            }
        }
        let compile = &self.emscripten.compile;
        let compiled = futures::future::join_all(jobs.iter().map(|(cpp, object)| async move {
            let out = run_tool(&compile.program, &compile.args(&self.extra, cpp, object), false, self.timeout).await?;
            match out.success {
                true => Ok(()),
                false => Err(compile_failed(cpp, &out.stderr)),
            }
        }))
        .await;
        (compiled, None)
    }

    /// lld in the build service, else a `wasm-ld` process.
    async fn link_objects(&self, objects: &[&Path], wasm: &Path) -> Result<(), BuildError> {
        if let (Tools::Resident, Some(resident)) = (self.tools, &self.resident) {
            if let Some(linked) = link_outcome(resident, resident.link(objects, wasm).await, wasm) {
                return linked;
            }
        }
        let link = &self.emscripten.link;
        let out = run_tool(&link.program, &link.args_for_inputs(&[], objects, wasm), false, self.timeout).await?;
        if !out.success {
            return Err(BuildError::Link(toolchain::tail(&out.stderr, 20)));
        }
        Ok(())
    }
}

/// How the build service's link of `wasm` went; `None` when the service failed (then the
/// caller links with `wasm-ld`).
fn link_outcome(
    resident: &Arc<ResidentBuild>,
    linked: Result<RequestOutcome, ServiceError>,
    wasm: &Path,
) -> Option<Result<(), BuildError>> {
    match linked {
        Ok(RequestOutcome::Done { .. }) => Some(Ok(())),
        Ok(RequestOutcome::Failed(stderr)) => Some(Err(BuildError::Link(toolchain::tail(&stderr, 20)))),
        Err(e) => {
            service_failed(resident, e, wasm);
            None
        }
    }
}

/// `units` in order, in at most `cores` parts of one size (the last may be smaller).
fn one_part_per_core<T>(units: &[T], cores: usize) -> std::slice::Chunks<'_, T> {
    let parts = cores.clamp(1, units.len().max(1));
    // `chunks` needs a size of at least 1, even for no units.
    units.chunks(units.len().div_ceil(parts).max(1))
}

/// The forms' C++ as one translation unit: every form's `#include` lines first (once each),
/// then each form in a namespace of its own, so that what each form declares for itself (the
/// fork's `struct patch_symbol`, helpers) does not clash with the others; `extern "C"` names
/// keep their symbols, so the module exports what the forms' own modules would. `None` when a
/// form has another preprocessor line (its macro would reach the forms after it).
fn one_translation_unit(forms: &[(PatchId, &str)]) -> Option<String> {
    let mut includes: Vec<&str> = Vec::new();
    let mut body = String::new();
    for (id, cpp) in forms {
        body.push_str(&format!("namespace jank_hotpatch_form_{id} {{\n"));
        for line in cpp.lines() {
            match line.trim_start() {
                include if include.starts_with("#include") => {
                    if !includes.contains(&include) {
                        includes.push(include);
                    }
                }
                directive if directive.starts_with('#') => return None,
                _ => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        body.push_str("}\n");
    }
    Some(includes.iter().map(|i| format!("{i}\n")).collect::<String>() + &body)
}

/// One form on its way into a side module.
struct Unit<'a> {
    form: &'a CompiledForm,
    /// What clang compiles (in the scratch directory, same file name as `cpp`): removed after
    /// the build.
    source: PathBuf,
    /// Kept after the build, for diagnostics.
    cpp: PathBuf,
    /// Removed after the build.
    object: PathBuf,
}

impl Unit<'_> {
    /// Writes the form's C++ where clang reads it.
    fn write(&self) -> Result<(), BuildError> {
        let path = &self.source;
        std::fs::write(path, &self.form.cpp).map_err(|e| BuildError::io(format!("write {}", path.display()), e))
    }
}

/// A form's C++ to keep in the cache dir (at `KeptCpp::path(id)`), and the scratch copy clang read.
struct KeptSource {
    id: PatchId,
    scratch: PathBuf,
    text: String,
}

impl KeptSource {
    fn of(unit: &Unit) -> KeptSource {
        KeptSource { id: unit.form.patch_id, scratch: unit.source.clone(), text: unit.form.cpp.clone() }
    }
}

/// A compile failure as the user reads it: naming the kept C++, not the scratch copy clang read.
fn point_at_kept(failure: BuildError, sources: &[KeptSource], kept: &KeptCpp) -> BuildError {
    match failure {
        BuildError::Compile { diagnostics, cpp_path } => match sources.iter().find(|s| s.scratch == cpp_path) {
            Some(source) => {
                let cpp = kept.path(source.id);
                let diagnostics = diagnostics.replace(&*source.scratch.to_string_lossy(), &cpp.to_string_lossy());
                BuildError::Compile { diagnostics, cpp_path: cpp }
            }
            None => BuildError::Compile { diagnostics, cpp_path },
        },
        other => other,
    }
}

/// The units at `indices` as patches of the one module `bytes`, named by the first one's id.
fn place(
    units: &[Result<Unit<'_>, BuildError>],
    indices: &[usize],
    bytes: Arc<[u8]>,
    modules: &mut [Option<Result<SideModule, BuildError>>],
) {
    let Some(module) = indices.iter().find_map(|&i| units[i].as_ref().ok()).map(|u| ModuleId::from(u.form.patch_id))
    else {
        return;
    };
    for &i in indices {
        if let Ok(unit) = &units[i] {
            modules[i] = Some(Ok(SideModule {
                patch_id: unit.form.patch_id,
                module,
                bytes: bytes.clone(),
                entry_symbol: unit.form.patch_id.entry_symbol(),
                var: unit.form.var.clone(),
                kind: unit.form.kind.clone(),
                cpp_path: unit.cpp.clone(),
                cached: false,
            }));
        }
    }
}

/// The build service failed a request, which the caller then makes with the process
/// toolchain: the patch never fails because of the service. It is restarted in the background.
fn service_failed(resident: &Arc<ResidentBuild>, e: ServiceError, what: &Path) {
    // Turned off or failed earlier, and logged then.
    if matches!(e, ServiceError::Disabled | ServiceError::Down) {
        return;
    }
    tracing::warn!(
        "resident build failed ({e}); building {} with the clang toolchain and restarting the service",
        what.display()
    );
    let resident = Arc::clone(resident);
    tokio::spawn(async move { resident.restart().await });
}

/// The module cache under `cache_dir` and the directory builds work in; a cache dir that
/// cannot be written gives no cache and a private temporary work dir (logged).
fn open_cache(settings: &BuildSettings, cache_dir: &Path) -> (Option<Arc<ModuleCache>>, PathBuf) {
    match cache::writable(&cache_dir.join("cpp")) {
        Ok(()) => {
            let cache = ModuleCache::open(cache_dir.join("modules"), settings.cache_max_mb.saturating_mul(1 << 20))
                .map(Arc::new);
            (cache, cache_dir.to_path_buf())
        }
        Err(e) => {
            let fallback = std::env::temp_dir().join(format!("jank-hotpatch-{}", std::process::id()));
            tracing::warn!(
                "cache dir {} is not writable ({e}); building without a cache in {}",
                cache_dir.display(),
                fallback.display()
            );
            (None, fallback)
        }
    }
}

/// The tools `build.toolchain` asks for, given what this emscripten has. `Resident` may still
/// fall back to `Clang` when the build service does not start.
fn choose_tools(toolchain: Toolchain, emscripten: &Emscripten) -> Result<Tools, BuildError> {
    Ok(match toolchain {
        Toolchain::Emcc => Tools::Emcc,
        Toolchain::Clang | Toolchain::Resident if !emscripten.has_direct_tools() => {
            return Err(BuildError::ToolchainMissing(format!(
                "emscripten's clang++/wasm-ld ({}, {}) are missing",
                emscripten.compile.program.display(),
                emscripten.link.program.display()
            )))
        }
        Toolchain::Clang => Tools::Clang,
        Toolchain::Resident => Tools::Resident,
        Toolchain::Auto if emscripten.has_direct_tools() => Tools::Resident,
        Toolchain::Auto => Tools::Emcc,
    })
}

fn include_flags(dirs: &[PathBuf]) -> Vec<OsString> {
    dirs.iter()
        .map(|dir| {
            let mut flag = OsString::from("-I");
            flag.push(dir);
            flag
        })
        .collect()
}

/// What the precompiled header is made of: the compile's flags (with the include dirs), the
/// headers (`build.pchHeaders`), and where it goes.
struct PchRequest {
    flags: Vec<String>,
    headers: Vec<String>,
    dir: PathBuf,
}

impl PchRequest {
    /// `None` when `build.pchHeaders` is empty.
    fn of(
        settings: &BuildSettings,
        emscripten: &Emscripten,
        include_flags: &[OsString],
        work_dir: &Path,
    ) -> Option<Self> {
        if settings.pch_headers.is_empty() {
            return None;
        }
        let mut flags = emscripten.compile.flags();
        flags.extend(include_flags.iter().map(|f| f.to_string_lossy().into_owned()));
        Some(PchRequest { flags, headers: settings.pch_headers.clone(), dir: work_dir.join("pch") })
    }

    /// The precompiled header, built unless an up-to-date one is there (or `again`); `None` if
    /// it does not build (logged: a bad header list must not stop patching, which goes on
    /// without it).
    async fn prepare(&self, emscripten: &Emscripten, timeout: Duration, again: bool) -> Option<PathBuf> {
        let program = &emscripten.compile.program;
        let prepared = pch::prepare(program, &self.flags, &self.headers, &self.dir, timeout, again).await;
        prepared.map_err(|e| tracing::warn!("no precompiled header: {e}")).ok()
    }
}

/// Toolchain, flags, PCH: what besides the form and the headers decides the module's bytes.
fn fingerprint(tools: Tools, emscripten: &Emscripten, settings: &BuildSettings) -> String {
    // The resident build writes the direct tools' bytes: one cache for both.
    let bytes_from = if tools == Tools::Emcc { Tools::Emcc } else { Tools::Clang };
    let inputs = format!(
        "{:?}\n{}\n{:?}\n{}",
        bytes_from,
        emscripten.fingerprint,
        settings.include_dirs,
        settings.pch_headers.join("\n")
    );
    blake3::hash(inputs.as_bytes()).to_hex().to_string()
}

/// Starts the build service for the direct tools' commands plus `extra`; the error (logged
/// once) when it cannot start.
async fn start_resident(
    settings: &BuildSettings,
    emscripten: &Emscripten,
    extra: &[OsString],
    work_dir: &Path,
    timeout: Duration,
) -> Result<Arc<ResidentBuild>, ServiceError> {
    let started = async {
        let program = resident::service_binary(settings.service_binary.as_deref())?;
        ResidentBuild::start(program, &emscripten.compile, extra, &emscripten.link, work_dir, timeout).await
    };
    match started.await {
        Ok(resident) => Ok(Arc::new(resident)),
        Err(e) if settings.toolchain == Toolchain::Resident => {
            tracing::warn!("build.toolchain is resident, but {e}; building with clang++ + wasm-ld");
            Err(e)
        }
        Err(e) => {
            tracing::info!("no resident build ({e}); building with clang++ + wasm-ld");
            Err(e)
        }
    }
}

fn compile_failed(cpp: &Path, stderr: &str) -> BuildError {
    let mut diagnostics = first_errors(stderr);
    if stderr.contains(PCH_REFUSED) {
        // Seen by the user only when precompiling again did not help.
        diagnostics.push_str(
            "\n(a header of build.pchHeaders changed after it was precompiled, and precompiling it again \
             failed: see the sidecar's log)",
        );
    }
    BuildError::Compile { diagnostics, cpp_path: cpp.to_path_buf() }
}

/// What clang says of a PCH when a header in it changed after it was built.
const PCH_REFUSED: &str = "has been modified since the precompiled header";

fn refused_the_pch(built: &Result<SideModule, BuildError>) -> bool {
    matches!(built, Err(BuildError::Compile { diagnostics, .. }) if diagnostics.contains(PCH_REFUSED))
}

/// The compiler's first errors, with their notes, without the tail of follow-on noise.
fn first_errors(stderr: &str) -> String {
    const MAX_ERRORS: usize = 3;
    const MAX_LINES: usize = 40;
    let mut errors = 0;
    let mut kept = Vec::new();
    for line in stderr.lines() {
        if line.contains("error:") {
            errors += 1;
            if errors > MAX_ERRORS {
                break;
            }
        }
        if kept.len() == MAX_LINES {
            break;
        }
        kept.push(line);
    }
    if let Some(summary) = stderr.lines().find(|l| l.contains("errors generated") || l.contains("error generated")) {
        if !kept.contains(&summary) {
            kept.push(summary);
        }
    }
    kept.join("\n").trim().to_string()
}

impl From<BuildError> for StageFailure {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Compile { ref cpp_path, .. } => {
                let message = format!("{e}\n(generated C++: {})", cpp_path.display());
                StageFailure::new(message).with_detail(cpp_path.clone())
            }
            e => StageFailure::new(e.to_string()),
        }
    }
}

#[async_trait]
impl Build for SideModuleBuilder {
    async fn cached(&self, key: FormKey) -> Option<SideModule> {
        let cache = self.cache.as_ref()?;
        cache.get(&self.cache_key(key, self.headers().await.as_ref()))
    }

    async fn build_together(&self, forms: &[(FormKey, &CompiledForm)]) -> Vec<Result<SideModule, StageFailure>> {
        let compiled: Vec<&CompiledForm> = forms.iter().map(|(_, form)| *form).collect();
        // Taken before the compile reads them: a header changed during it misses next time.
        let headers = self.headers().await;
        let pch_generation = self.pch_generation.load(Ordering::Acquire);
        let mut built = self.build_forms(&compiled).await;
        if built.iter().any(refused_the_pch) && self.precompile_again(pch_generation).await {
            built = self.build_forms(&compiled).await;
        }
        forms
            .iter()
            .zip(built)
            .map(|((key, form), built)| {
                let module = built.map_err(|e| {
                    let failure = StageFailure::from(e);
                    StageFailure {
                        message: format!("{} (patch {}): {}", form.var, form.patch_id, failure.message),
                        ..failure
                    }
                })?;
                if let Some(cache) = &self.cache {
                    cache.put(&self.keeper, self.cache_key(*key, headers.as_ref()), module.clone());
                }
                Ok(module)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_s_forms_are_split_into_a_part_per_core_in_order() {
        let sizes = |n: usize, cores: usize| {
            let units: Vec<usize> = (0..n).collect();
            let parts: Vec<&[usize]> = one_part_per_core(&units, cores).collect();
            assert_eq!(parts.concat(), units, "every form once, in order");
            parts.iter().map(|part| part.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(20, 2), [10, 10]);
        assert_eq!(sizes(5, 2), [3, 2]);
        assert_eq!(sizes(20, 1), [20]);
        assert_eq!(sizes(3, 8), [1, 1, 1]);
        assert_eq!(sizes(2, 0), [2], "no core count: one part");
        assert!(sizes(0, 2).is_empty());
    }

    #[test]
    fn forms_become_one_translation_unit_with_their_includes_first_and_a_namespace_each() {
        let a = "#include <stdint.h>\nstruct patch_symbol { int n; };\nextern \"C\" void *f_1() { return 0; }\n";
        let b = "#include <stdint.h>\n#include <string>\nstruct patch_symbol { int n; };\n";
        let text = one_translation_unit(&[(PatchId(1), a), (PatchId(2), b)]).unwrap();
        assert_eq!(
            text,
            "#include <stdint.h>\n#include <string>\n\
             namespace jank_hotpatch_form_1 {\nstruct patch_symbol { int n; };\nextern \"C\" void *f_1() { return 0; }\n}\n\
             namespace jank_hotpatch_form_2 {\nstruct patch_symbol { int n; };\n}\n"
        );
        assert_eq!(one_translation_unit(&[(PatchId(1), a), (PatchId(3), "#define N 3\nint n = N;\n")]), None);
    }

    #[test]
    fn first_errors_keeps_three_and_the_summary() {
        let stderr = (1..=6)
            .map(|i| format!("p.cpp:{i}:1: error: bad {i}\n  x\n  ^"))
            .chain(["6 errors generated.".to_string()])
            .collect::<Vec<_>>()
            .join("\n");
        let text = first_errors(&stderr);
        assert!(text.contains("bad 1") && text.contains("bad 3") && !text.contains("bad 4"), "{text}");
        assert!(text.ends_with("6 errors generated."), "{text}");
    }
}
