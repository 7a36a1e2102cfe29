//! The main module's side of the browser contract: what a page's main module must be for
//! patches to load in it and for the browser client to drive it. One home for it, used by
//! the check stage's users (`doctor`), the main-module build (`link.rs`, the demo's) and
//! `link-flags` (`link_flags.rs`), and by the deliver stage (`on_disk.rs`, the digest pages
//! are compared against).
//!
//! Owns: `-sMAIN_MODULE=2` with the exports patches and the browser client need, 64-bit
//! integers as BigInt, table growth, the file system, the runtime methods the client calls,
//! the client's `--post-js` (`post.js`), the names of the C API the page calls, and the
//! fork's patch helpers. Must not know about pages or patches' C++; what real patches import
//! beyond the fork's helpers comes from their wasm ([`crate::check::export_list`]).

mod link;
mod link_flags;
mod on_disk;

use std::path::Path;

pub use link::{build_main_module, MainModule, MainModuleError};
pub use link_flags::{exported_functions, link_flags, LinkFlagsError, LinkOptions};
pub use on_disk::MainModuleOnDisk;

/// What every patch of the jank fork's shape imports (the `extern "C"` block of its
/// `wasm_patch_processor`).
pub const PATCH_HELPERS: [&str; 17] = [
    "jank_box_integer",
    "jank_unbox_integer",
    "jank_box_double",
    "jank_unbox_double",
    "jank_make_string",
    "jank_call_var",
    "jank_deref_var",
    "jank_make_keyword",
    "jank_make_symbol",
    "jank_make_vector",
    "jank_make_set",
    "jank_make_list",
    "jank_make_map",
    "jank_println",
    "jank_nil_value",
    "jank_truthy",
    "jank_make_fn_wrapper",
];

/// The registry entry the client loads every patch through.
pub const REGISTRY: &str = "jank_hot_reload_load_patch";

/// What the client calls besides the registry and the helpers (`jank_deref_var`): to call an
/// expression's function and print its value, and to pass C strings.
pub const CLIENT_FUNCTIONS: [&str; 4] = ["jank_call0", "jank_to_string", "malloc", "free"];

/// Used by the client when exported; the jank fork's C API has neither.
pub const CLIENT_OPTIONAL: [&str; 2] = ["jank_to_code_string", "jank_hot_reload_last_error"];

/// The runtime methods the client calls (`jankHotpatch` in `deliver/client/`).
const RUNTIME_METHODS: [&str; 6] = ["FS", "ccall", "cwrap", "UTF8ToString", "stringToUTF8", "lengthBytesUTF8"];

/// The client's post-js: hands the client what the code prints (through emscripten's `out`,
/// which an ES6 build's `Module.print` cannot reach), and emscripten's async side-module
/// loader, for patches above the browser's synchronous-compile limit.
pub const POST_JS: &str = include_str!("post.js");

/// Which C API the app's jank has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CApi {
    /// The jank fork as it is: no `jank_to_code_string`, no `jank_hot_reload_last_error`.
    Fork,
    /// Also those two (the stand-in runtime; a jank that has them).
    Full,
}

/// The settings every patchable main module is linked with, but its export list.
pub fn settings() -> Vec<String> {
    let mut flags: Vec<String> = [
        "-sMAIN_MODULE=2",
        "-sWASM_BIGINT=1",
        "-sALLOW_TABLE_GROWTH=1",
        "-sALLOW_MEMORY_GROWTH=1",
        "-sFORCE_FILESYSTEM=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    flags.push(format!("-sEXPORTED_RUNTIME_METHODS={}", RUNTIME_METHODS.join(",")));
    flags
}

/// The names (without `_`) a main module must export for patches of the fork's shape to load
/// and for the client to work; `CApi::Full` adds the optional ones.
pub fn required_exports(c_api: CApi) -> Vec<&'static str> {
    let mut names: Vec<&str> =
        PATCH_HELPERS.iter().chain([REGISTRY].iter()).chain(CLIENT_FUNCTIONS.iter()).copied().collect();
    if c_api == CApi::Full {
        names.extend(CLIENT_OPTIONAL);
    }
    names
}

pub(crate) fn write_post_js(path: &Path) -> std::io::Result<()> {
    std::fs::write(path, POST_JS)
}
