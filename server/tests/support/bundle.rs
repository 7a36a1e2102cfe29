//! The final link of the jank fork's bundle script (pfeodrippe/jank, branch `nrepl`,
//! `compiler+runtime/bin/emscripten-bundle`, the `em_link_cmd` it builds), applied to the
//! stand-in runtime (demo/runtime, the fork's C API) and a small entry point with a `main` and
//! an `^:export`-style function: its flags in its order, then each `--em-flag` one by one as the
//! script appends them, then `INCREMENTAL_LINK=1`'s.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::app::runtime_sources;

/// The app's entry point: `main` and a function as the fork generates for `^:export`.
const ENTRY: &str = "extern \"C\" void *jank_export_greet() { return 0; }\nint main() { return 0; }\n";

/// How the script is run.
pub struct Bundle<'a> {
    /// `--em-flag` values, in order.
    pub em_flags: &'a [String],
    /// `INCREMENTAL_LINK=1`.
    pub incremental: bool,
}

/// Links `<dir>/app.js` + `app.wasm` the way the script links `app` in development mode (its
/// default); returns the `.wasm`.
pub fn link(dir: &Path, bundle: &Bundle) -> PathBuf {
    let entry = dir.join("entry.cpp");
    std::fs::write(&entry, ENTRY).unwrap();
    let mut sources = runtime_sources();
    sources.push(entry);
    let mut em = Command::new("em++");
    em.env("EMSDK_PYTHON", "/usr/bin/python3").env("NODE_PATH", "/usr/share/nodejs");
    // The fork's runtime: its C API (no jank_to_code_string, ...), and the script's compile
    // flags that matter to the link.
    em.args(["-std=c++17", "-DJANK_STANDIN_FORK_API", "-fexceptions", "-frtti"]).args(&sources);
    em.arg("-o").arg(dir.join("app.js"));
    // With an entry point: `_main` and the `jank_export_*` functions it found.
    em.arg("-sEXPORTED_FUNCTIONS=_main,_jank_export_greet");
    em.args([
        "-sALLOW_MEMORY_GROWTH=1",
        "-sINITIAL_MEMORY=67108864",
        // The script's `-sSTACK_SIZE=2097152`, under the name emscripten 3.1.6 knows.
        "-sTOTAL_STACK=2097152",
        "-fexceptions",
        "-sEXPORTED_RUNTIME_METHODS=ccall,cwrap,UTF8ToString,stringToUTF8",
        "-sMODULARIZE=1",
        "-sEXPORT_NAME=app",
        "-sENVIRONMENT=web,node",
        "-sABORTING_MALLOC=0",
        "-frtti",
    ]);
    // Development mode (no RELEASE=1); the source map flags left out (they change nothing the
    // page or the check stage sees).
    em.args(["-O0", "-g3", "--minify", "0", "-sASSERTIONS=2"]);
    em.arg("-sEXPORT_ES6=1");
    em.args(bundle.em_flags);
    if bundle.incremental {
        em.args(["-sLINKABLE=1", "-sEXPORT_ALL=1", "-sMAIN_MODULE=2"]);
    }
    let linked = em.output().expect("run em++");
    assert!(linked.status.success(), "em++: {}", String::from_utf8_lossy(&linked.stderr));
    dir.join("app.wasm")
}
