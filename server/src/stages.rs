//! The contracts between the pipeline and its stages: what each stage is given, what it
//! returns, and how it fails. Stage modules implement these traits; nothing here knows
//! about LSP, nREPL, toolchains or sockets.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::reader::{FormKind, Namespace};

/// The name of a pipeline stage, as it appears in patch reports and progress messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Read,
    Compile,
    Build,
    Check,
    Deliver,
    Load,
}

impl Stage {
    pub const ALL: [Stage; 6] = [Stage::Read, Stage::Compile, Stage::Build, Stage::Check, Stage::Deliver, Stage::Load];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Compile => "compile",
            Stage::Build => "build",
            Stage::Check => "check",
            Stage::Deliver => "deliver",
            Stage::Load => "load",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one patch forever. The sidecar assigns it (never jank, whose counter restarts
/// at 0) and it is unique across restarts of jank and of the sidecar, because pages outlive
/// both and emscripten keeps the first definition of every symbol name it ever loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PatchId(pub u64);

impl PatchId {
    /// The side module's entry point, as the jank fork's codegen names it.
    pub fn entry_symbol(self) -> String {
        format!("jank_patch_symbols_{}", self.0)
    }
}

impl fmt::Display for PatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies a side module's bytes: the patch id of the first form built into it (a form
/// built alone has its own). The forms of one save share one module; a page loads the bytes
/// once per module id and calls each patch's entry symbol from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModuleId(pub u64);

impl From<PatchId> for ModuleId {
    fn from(id: PatchId) -> Self {
        ModuleId(id.0)
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A namespace-qualified var, `ns/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VarName {
    pub ns: String,
    pub name: String,
}

impl VarName {
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> Self {
        VarName { ns: ns.into(), name: name.into() }
    }

    /// The one rule for the var a form defines: a definition's name in the namespace it is
    /// compiled in (jank's reply names the same namespace, checked, and the def's symbol);
    /// `None` for anything else.
    pub fn defined_by(ns: &str, kind: &FormKind, name: Option<&str>) -> Option<VarName> {
        match (kind, name) {
            (FormKind::Def(_), Some(name)) => Some(VarName::new(ns, name)),
            _ => None,
        }
    }

    /// How a REPL prints the var a definition made: `#'ns/name`.
    pub fn printed(&self) -> String {
        format!("#'{self}")
    }
}

/// Milliseconds since `since`: the unit of every stage and step time a report gives.
pub fn elapsed_ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Whether a patch is on its way now: the pipeline marks each run (and undo) from its start
/// to its report. Work that can wait (the files a build keeps) waits for it, since on a
/// machine of few cores, or on the same disk, it would take the patch's time: measured, the
/// pages' round trip grew by about a millisecond when those writes ran beside it, and a cache
/// hit right after a build took the earlier build's writes.
#[derive(Clone, Default)]
pub struct PatchesInFlight(Arc<Runs>);

#[derive(Default)]
struct Runs {
    count: std::sync::Mutex<usize>,
    /// Notified when `count` comes down to 0.
    none_left: std::sync::Condvar,
}

/// One run on its way; dropping it says its report is ready.
pub struct OnItsWay(PatchesInFlight);

impl PatchesInFlight {
    pub fn start(&self) -> OnItsWay {
        *self.count() += 1;
        OnItsWay(self.clone())
    }

    pub fn any(&self) -> bool {
        *self.count() > 0
    }

    /// Blocks this thread (never an async task's) until no run is on its way, or for at most
    /// `at_most`; says whether none is.
    pub fn wait_until_none(&self, at_most: std::time::Duration) -> bool {
        let (count, _) = self
            .0
            .none_left
            .wait_timeout_while(self.count(), at_most, |n| *n > 0)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *count == 0
    }

    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        self.0.count.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for OnItsWay {
    fn drop(&mut self) {
        let mut count = self.0.count();
        *count -= 1;
        if *count == 0 {
            self.0 .0.none_left.notify_all();
        }
    }
}

/// The one rule for `app.maxModuleBytes`, the largest side module the pages are sent: the
/// build stage fails a form over it, the deliver stage refuses a batch with one.
pub fn check_module_size(bytes: usize, limit: usize) -> Result<(), String> {
    if bytes <= limit {
        return Ok(());
    }
    Err(format!(
        "the side module is {bytes} bytes, above the limit of {limit} (app.maxModuleBytes); raise the limit or split the form"
    ))
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

/// A place in a source file: 0-based line, 0-based column counted in Unicode scalar values.
/// The `lsp` module converts it to UTF-16 positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// One top-level form to patch, cut out of its file by the reader.
#[derive(Clone, Debug)]
pub struct FormSource {
    /// The form's text, exactly as in the file.
    pub text: String,
    pub kind: FormKind,
    /// The defined name for def-like forms.
    pub name: Option<String>,
    /// Byte range of the form in the file.
    pub range: std::ops::Range<usize>,
    /// Where the form starts, to map jank's form-relative line/column back into the file.
    pub start: LineCol,
}

/// The file a form comes from, as the compile stage needs it to load the namespace on
/// the jank side (problems 1 and 2 in ARCHITECTURE.md).
#[derive(Clone, Debug)]
pub struct SourceContext {
    pub path: PathBuf,
    pub text: Arc<str>,
    pub namespace: Namespace,
}

/// What the compile stage is asked to do.
#[derive(Clone, Debug)]
pub struct CompileRequest {
    pub patch_id: PatchId,
    pub source: SourceContext,
    pub form: FormSource,
}

/// Whether the page should call the patch after loading it. On the page wire in [`Stage`]'s
/// casing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchKind {
    /// A definition: loading it rebinds the vars' roots.
    Definition,
    /// An expression, wrapped by the compile stage as the zero-argument function `var`:
    /// the page calls it after loading and sends back the printed value.
    Expression,
}

/// The C++ that jank produced for one form.
#[derive(Clone, Debug)]
pub struct CompiledForm {
    pub patch_id: PatchId,
    pub cpp: String,
    /// The var the patch binds (for an expression: its generated wrapper).
    pub var: VarName,
    pub kind: PatchKind,
    /// What the C++ computes other than the form says, though it builds and loads (the
    /// fork's `true` as the integer 1): the patch goes through, and the editor shows these.
    pub warnings: Vec<FormWarning>,
}

/// A warning about one form, placed in its file where the stage knows where.
#[derive(Clone, Debug, PartialEq)]
pub struct FormWarning {
    pub message: String,
    pub location: Option<LineCol>,
}

/// One form's patch in a wasm side module, ready to send, with what the page needs to load
/// it. The forms built together share `module` and `bytes`.
#[derive(Clone, Debug)]
pub struct SideModule {
    pub patch_id: PatchId,
    pub module: ModuleId,
    pub bytes: Arc<[u8]>,
    /// `jank_patch_symbols_<id>`.
    pub entry_symbol: String,
    pub var: VarName,
    pub kind: PatchKind,
    /// The generated C++ kept on disk, for diagnostics to point at.
    pub cpp_path: PathBuf,
    /// True when it came out of the build cache (no jank compile and no build happened).
    pub cached: bool,
}

/// Identifies a version of a form for the build cache: the form's text and everything
/// about its namespace that can change what jank emits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FormKey(pub [u8; 32]);

impl FormKey {
    pub fn of(form_text: &str, namespace: &Namespace) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(namespace.fingerprint().as_bytes());
        h.update(&[0]);
        h.update(form_text.as_bytes());
        FormKey(*h.finalize().as_bytes())
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where, in the browser and the editor, a patch came from (for the HUD and diagnostics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchOrigin {
    pub file: String,
    /// 1-based, as people read it.
    pub line: u32,
    pub form: String,
}

impl PatchOrigin {
    /// Which form a patch or a failure is about, for the pages' HUD: `ns/name` for a
    /// definition, `file:line` for an expression (the browser client keys its loads alike).
    pub fn form_key(&self, var: Option<&VarName>) -> String {
        match var {
            Some(var) => var.to_string(),
            None => format!("{}:{}", self.file, self.line),
        }
    }
}

/// A form that failed before it reached the pages (read, compile, build, check). The pages
/// show it in their HUD until a patch of the same form loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormFailure {
    /// [`PatchOrigin::form_key`].
    pub key: String,
    pub stage: Stage,
    pub message: String,
    pub file: String,
    /// 1-based, where the stage located the failure (else the form's start).
    pub line: u32,
    pub column: u32,
    /// The form's text.
    pub form: String,
}

/// An error thrown while code ran in a page (a call from the app into jank, an event handler,
/// a timer, an uncaught error), as the page counted it: one per distinct error and page, its
/// count growing, until a batch of patches loads in that page (which starts the count over) or
/// the page goes away.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuntimeError {
    /// The page it happened in.
    pub page: u64,
    /// The page's key of this error (its origin, patch and message).
    pub key: String,
    /// As jank prints it (a C++ exception's `what()`), or the trap's or the JavaScript error's.
    pub message: String,
    /// Where the page caught it (`the animation frame`, `the click handler`, `an uncaught error`).
    pub caught_in: String,
    /// How many times it was thrown since the page first reported it.
    pub count: u64,
    pub culprit: Culprit,
}

/// What raised a runtime error, as far as the stack says: never a guess presented as fact.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Culprit {
    /// A patched function was on the stack (the innermost one): its var and form.
    Patched { var: VarName, patch: PatchId, origin: PatchOrigin },
    /// jank code threw, but no patched function the journal knows was on the stack.
    Unpatched { after: Option<AfterPatch> },
    /// The app's own JavaScript threw: no jank code on the stack.
    App { after: Option<AfterPatch> },
}

/// The last batch of patches the page loaded before an error, and how long before it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AfterPatch {
    /// `ns/name` of its vars.
    pub vars: Vec<String>,
    pub ms: f64,
}

impl RuntimeError {
    /// The var whose form threw, when the stack names one.
    pub fn var(&self) -> Option<&VarName> {
        match &self.culprit {
            Culprit::Patched { var, .. } => Some(var),
            _ => None,
        }
    }

    /// The one line every front end shows: what threw, where, how often, and what is known of
    /// the cause.
    pub fn summary(&self) -> String {
        let times = if self.count == 1 { "once".to_string() } else { format!("{} times", self.count) };
        let after = |after: &Option<AfterPatch>| match after {
            Some(a) => format!("; after patching {} {:.1} s earlier", a.vars.join(", "), a.ms / 1000.0),
            None => String::new(),
        };
        match &self.culprit {
            Culprit::Patched { var, origin, .. } => format!(
                "{var} ({}:{}) threw in page {} ({times}, in {}): {}",
                origin.file, origin.line, self.page, self.caught_in, self.message
            ),
            Culprit::Unpatched { after: a } => format!(
                "jank code threw in page {} ({times}, in {}): {}; no patched function on the stack{}",
                self.page,
                self.caught_in,
                self.message,
                after(a)
            ),
            Culprit::App { after: a } => format!(
                "the app's own code threw in page {} ({times}, in {}): {}; not jank code{}",
                self.page,
                self.caught_in,
                self.message,
                after(a)
            ),
        }
    }
}

/// The runtime errors of every page now (the deliver stage's stream to the front ends).
pub type RuntimeErrors = Arc<Vec<RuntimeError>>;

/// How often a front end takes the latest [`RuntimeErrors`]: however often pages throw, what
/// it shows changes at most this often.
pub const RUNTIME_FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A side module on its way to the pages.
#[derive(Clone, Debug)]
pub struct Patch {
    pub module: SideModule,
    pub origin: PatchOrigin,
}

/// What the pages did with a batch of patches.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// Pages connected when the patches went out.
    pub pages: usize,
    /// Pages that loaded every patch of the batch.
    pub applied: usize,
    /// From sending until the last ack, minus the slowest page's load time.
    pub deliver_ms: f64,
    /// The slowest page's load time (as the page measured it).
    pub load_ms: f64,
    /// Of `deliver_ms`, the sidecar's own part before the pages: framing the batch,
    /// journaling it and queueing it to each page.
    pub send_ms: f64,
    /// Of `deliver_ms`, the last page's own handling of the batch besides its loads (hooks,
    /// events), as the page measured it.
    pub client_ms: f64,
    /// After the last ack, waiting for the journal's save (not in `deliver_ms`).
    pub journal_ms: f64,
    /// The printed value of an expression patch, from the first page that answered.
    pub value: Option<String>,
    /// The printed value of every expression patch of the batch, from the first page that
    /// answered.
    pub values: Vec<(PatchId, String)>,
    /// Load errors, one per failing page, with the page's message.
    pub failures: Vec<String>,
    /// What went wrong without failing the patch, and what it costs the user (e.g. the
    /// journal could not be saved: pages that connect later will miss this patch).
    pub warnings: Vec<String>,
    /// The version each definition of the batch has now in the journal.
    pub versions: Vec<VarVersion>,
    /// What the code printed in the first page that answered, line by line, in patch order
    /// (then what the load hooks printed).
    pub output: Vec<String>,
    /// Load hooks that threw, one per page and hook, with the page's message.
    pub hook_failures: Vec<String>,
}

/// The functions the pages call around a batch of patches (`^:dev/before-load`,
/// `^:dev/after-load`), in the order they are called.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadHooks {
    pub before: Vec<VarName>,
    pub after: Vec<VarName>,
}

/// Which version of a var the pages run: 1 for its first patch, n for its n-th; 0 for the
/// app's own code. Undo goes back one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarVersion {
    pub var: VarName,
    pub version: u32,
}

/// How a stage failed, in terms the editor can show: a message and, where known, the place
/// in the file it concerns and a file with more detail (generated C++, compiler output).
#[derive(Clone, Debug, PartialEq)]
pub struct StageFailure {
    pub message: String,
    /// In the source file, when the stage knows better than "the whole form".
    pub location: Option<LineCol>,
    pub detail_path: Option<PathBuf>,
}

impl StageFailure {
    pub fn new(message: impl Into<String>) -> Self {
        StageFailure { message: message.into(), location: None, detail_path: None }
    }

    pub fn at(mut self, location: LineCol) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_detail(mut self, path: PathBuf) -> Self {
        self.detail_path = Some(path);
        self
    }
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// jank -> C++ (problem 3 in ARCHITECTURE.md: jank's own compiler, never a second code generator).
#[async_trait]
pub trait Compile: Send + Sync {
    async fn compile(&self, request: &CompileRequest) -> Result<CompiledForm, StageFailure>;

    /// After the pages applied a definition, evaluate it natively on the jank side too, so
    /// that later forms referring to it resolve there: the compiling jank mirrors the page.
    async fn mirror(&self, request: &CompileRequest) -> Result<(), StageFailure>;
}

/// C++ -> wasm side module, with a content-addressed cache in front.
#[async_trait]
pub trait Build: Send + Sync {
    /// A module built before for this exact version of the form, if the cache has it.
    async fn cached(&self, key: FormKey) -> Option<SideModule>;

    /// Builds the forms into one side module (each form's C++ compiled to its own object, then
    /// one link), so that a save costs one link however many forms it changes. One result per
    /// form, in order: a form that does not build fails alone and the others go on without it.
    async fn build_together(&self, forms: &[(FormKey, &CompiledForm)]) -> Vec<Result<SideModule, StageFailure>>;

    /// Builds one form into a side module of its own.
    async fn build(&self, key: FormKey, form: &CompiledForm) -> Result<SideModule, StageFailure> {
        let built = self.build_together(&[(key, form)]).await.into_iter().next();
        built.unwrap_or_else(|| Err(StageFailure::new("the build stage returned no module")))
    }
}

/// The side module's imports against the main module's exports, before anything is sent.
pub trait Check: Send + Sync {
    fn check(&self, module: &SideModule) -> Result<(), StageFailure>;
}

/// To every connected page, loaded in place, acked with timings.
#[async_trait]
pub trait Deliver: Send + Sync {
    /// Sends the patches to every page, which calls `hooks` around them.
    async fn deliver_batch(&self, patches: Vec<Patch>, hooks: &LoadHooks) -> Result<Delivery, StageFailure>;

    /// Sends the patches, calling no load hooks.
    async fn deliver(&self, patches: Vec<Patch>) -> Result<Delivery, StageFailure> {
        self.deliver_batch(patches, &LoadHooks::default()).await
    }

    /// Takes each var back to its previous version in every page (and in the journal), from
    /// the side modules built before: no compile, no build.
    async fn undo(&self, vars: &[VarName], hooks: &LoadHooks) -> Result<Delivery, StageFailure>;

    /// Shows in every page the forms of a run that failed before reaching the pages, and
    /// clears the failures shown earlier of forms (by key) that are fine now.
    async fn show_failures(&self, _failed: Vec<FormFailure>, _fine: Vec<String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiter_goes_on_once_no_run_is_on_its_way_or_at_most_is_up() {
        let patches = PatchesInFlight::default();
        assert!(patches.wait_until_none(Duration::ZERO), "none on its way: no wait");
        let first = patches.start();
        let second = patches.start();
        assert!(!patches.wait_until_none(Duration::from_millis(1)), "gives up after at_most");
        let waiter = {
            let patches = patches.clone();
            std::thread::spawn(move || patches.wait_until_none(Duration::from_secs(60)))
        };
        drop(first);
        assert!(patches.any(), "one run is still on its way");
        drop(second);
        // `true` only when it returned with no run on its way: after the second was done.
        assert!(waiter.join().unwrap());
        assert!(!patches.any());
    }
}
