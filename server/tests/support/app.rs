//! What the deliver tests serve and send: the stand-in main module built from demo/runtime,
//! the demo app (demo/app) in a scratch root, and side modules built with the real toolchain
//! from C++ in the jank fork's `wasm_patch_processor` shape.

use std::path::{Path, PathBuf};

use jank_hotpatch::config::{AppSettings, Settings};
use jank_hotpatch::main_module::{build_main_module, MainModule};
use jank_hotpatch::reader::Namespace;
use jank_hotpatch::side_module::SideModuleBuilder;
use jank_hotpatch::stages::{Build, CompiledForm, FormKey, Patch, PatchId, PatchKind, PatchOrigin, VarName};
use tokio::sync::OnceCell;

pub const NS: &str = "demo.core";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deliver").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The stand-in main module, linked once (later runs reuse it while it is up to date).
pub async fn main_module() -> &'static MainModule {
    static MAIN: OnceCell<MainModule> = OnceCell::const_new();
    MAIN.get_or_init(|| async {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deliver-main-module");
        build_main_module(&repo().join("demo/runtime"), &out, &[]).await.expect("the stand-in main module links")
    })
    .await
}

/// A served root: the demo app's files next to the main module's `app.js`/`app.wasm`.
pub async fn app_root(name: &str) -> PathBuf {
    let main = main_module().await;
    let root = scratch(name).join("app");
    std::fs::create_dir_all(&root).unwrap();
    for entry in std::fs::read_dir(repo().join("demo/app")).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), root.join(entry.file_name())).unwrap();
        }
    }
    std::fs::copy(&main.js, root.join("app.js")).unwrap();
    std::fs::copy(&main.wasm, root.join("app.wasm")).unwrap();
    root
}

/// App settings for a test server: loopback, a free port, `root`.
pub fn app_settings(root: Option<PathBuf>) -> AppSettings {
    AppSettings { root, port: 0, ..Settings::default().app }
}

/// A jank function as the fork's codegen would emit it for one var.
pub struct Defn<'a> {
    pub name: &'a str,
    pub params: &'a [&'a str],
    /// C++ statements ending in a `return`, over `void *` params of the same names.
    pub body: String,
}

impl<'a> Defn<'a> {
    pub fn new(name: &'a str, params: &'a [&'a str], body: String) -> Self {
        Defn { name, params, body }
    }
}

/// `return <integer>;`
pub fn int(n: i64) -> String {
    format!("return jank_box_integer({n});")
}

/// `(if (< clicks 5) a b)`
pub fn color_body(a: &str, b: &str) -> String {
    format!(
        "void *args[] = {{ clicks, jank_box_integer(5) }};\n  \
         if (jank_truthy(jank_call_var(\"clojure.core\", \"<\", 2, args))) return jank_make_string(\"{a}\");\n  \
         return jank_make_string(\"{b}\");"
    )
}

/// `(str prefix clicks " times")`
pub fn label_body(prefix: &str) -> String {
    format!(
        "void *args[] = {{ jank_make_string(\"{prefix}\"), clicks, jank_make_string(\" times\") }};\n  \
         return jank_call_var(\"clojure.core\", \"str\", 3, args);"
    )
}

/// The fork's C++ for one patch. `signature` is normally the arity.
pub fn fork_cpp(id: u64, defn: &Defn, signature: &str) -> String {
    let function = format!("jank_demo_core_{}_{id}", defn.name.replace(['-', '.', '/', '?', '!', '*', '+'], "_"));
    let params: Vec<String> = defn.params.iter().map(|p| format!("void *{p}")).collect();
    format!(
        r#"// Auto-generated WASM hot-reload patch
// Patch ID: {id}
#include <stdint.h>
extern "C" {{
extern void *jank_box_integer(int64_t value);
extern void *jank_make_string(const char *str);
extern void *jank_call_var(const char *ns, const char *name, int argc, void **args);
extern int jank_truthy(void *obj);
struct patch_symbol {{ const char *qualified_name; const char *signature; void *fn_ptr; }};
__attribute__((visibility("default")))
void *{function}({params}) {{
  {body}
}}
__attribute__((visibility("default")))
patch_symbol *jank_patch_symbols_{id}(int *count) {{
  static patch_symbol symbols[] = {{ {{ "{NS}/{name}", "{signature}", (void *){function} }} }};
  *count = 1;
  return symbols;
}}
}}
"#,
        params = params.join(", "),
        body = defn.body,
        name = defn.name,
    )
}

/// Builds side modules with the real toolchain (helper-3's builder).
pub struct Modules {
    builder: SideModuleBuilder,
}

impl Modules {
    pub async fn new(name: &str) -> Modules {
        let cache = scratch(&format!("{name}-build"));
        let builder = SideModuleBuilder::new(&Settings::default().build, &cache).await.expect("emscripten works");
        Modules { builder }
    }

    pub async fn build(&self, id: u64, defn: &Defn<'_>, signature: &str, kind: PatchKind) -> Patch {
        let cpp = fork_cpp(id, defn, signature);
        let form = CompiledForm { patch_id: PatchId(id), cpp: cpp.clone(), var: VarName::new(NS, defn.name), kind };
        let module = self.builder.build(FormKey::of(&cpp, &Namespace::Missing), &form).await.expect("the patch builds");
        let text = format!("(defn {} [{}] ...)", defn.name, defn.params.join(" "));
        Patch { module, origin: PatchOrigin { file: "src/demo/core.jank".into(), line: 3, form: text } }
    }

    pub async fn defn(&self, id: u64, defn: Defn<'_>) -> Patch {
        let arity = defn.params.len().to_string();
        self.build(id, &defn, &arity, PatchKind::Definition).await
    }

    /// A zero-argument wrapper around an expression, as the compile stage makes it.
    pub async fn expression(&self, id: u64, body: String) -> Patch {
        let name = format!("__expr_{id}");
        self.build(id, &Defn::new(&name, &[], body), "0", PatchKind::Expression).await
    }

    /// The demo's four functions (ids `first..first+4`).
    pub async fn demo_core(&self, first: u64, speed: i64, colors: (&str, &str), label: &str) -> Vec<Patch> {
        vec![
            self.defn(first, Defn::new("speed", &[], int(speed))).await,
            self.defn(first + 1, Defn::new("radius", &[], int(18))).await,
            self.defn(first + 2, Defn::new("color", &["clicks"], color_body(colors.0, colors.1))).await,
            self.defn(first + 3, Defn::new("label", &["clicks"], label_body(label))).await,
        ]
    }
}
