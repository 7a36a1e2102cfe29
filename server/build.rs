//! Builds `build-service/` (the resident build: clang and lld kept loaded, C++) with the
//! system C++ compiler when Debian's LLVM 14 clang and lld libraries are installed
//! (`scripts/setup.sh` installs them). Without them, or if the C++ does not build, the crate
//! still builds: the sidecar then builds patches with the clang toolchain and says why.
//!
//! Before that, checks that every `lld::wasm::WasmSym` static of the library is one that
//! `link.cpp` resets before a link in the service's own process.
//!
//! Tells the crate through `JANK_BUILD_SERVICE` (the binary's path) or
//! `JANK_BUILD_SERVICE_MISSING` (the reason there is none).

use std::path::{Path, PathBuf};
use std::process::Command;

const LLVM: &str = "/usr/lib/llvm-14";
const SOURCES: [&str; 4] = ["main.cpp", "compile.cpp", "link.cpp", "self_test.cpp"];

fn main() {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build-service/src");
    println!("cargo:rerun-if-changed={}", sources.display());
    println!("cargo:rerun-if-env-changed=CXX");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    match build_service(&sources, &out_dir) {
        Ok(binary) => println!("cargo:rustc-env=JANK_BUILD_SERVICE={}", binary.display()),
        Err(reason) => {
            println!("cargo:warning=the resident build service is not built: {reason}");
            println!("cargo:rustc-env=JANK_BUILD_SERVICE_MISSING={reason}");
        }
    }
}

/// The service links in its own process after resetting lld's `WasmSym` statics, which
/// `link.cpp` lists by name (their header is private). A library with one more (another lld
/// than 14) would leave it set between links: no service then.
fn lld_statics_all_reset(library: &Path, link_cpp: &Path) -> Result<(), String> {
    const PREFIX: &[u8] = b"_ZN3lld4wasm7WasmSym";
    let archive = std::fs::read(library).map_err(|e| format!("cannot read {}: {e}", library.display()))?;
    let source = std::fs::read_to_string(link_cpp).map_err(|e| format!("cannot read {}: {e}", link_cpp.display()))?;
    let listed: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.contains("lld-statics: begin"))
        .take_while(|l| !l.contains("lld-statics: end"))
        .flat_map(|l| l.split("X(").skip(1).filter_map(|item| Some(item.split_once(')')?.0)))
        .collect();
    let mut at = 0;
    while let Some(found) = archive[at..].windows(PREFIX.len()).position(|w| w == PREFIX) {
        at += found + PREFIX.len();
        // A mangled member name: its length in decimal, the name, then `E`.
        let digits = archive[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(len) = std::str::from_utf8(&archive[at..at + digits]).ok().and_then(|d| d.parse::<usize>().ok())
        else {
            continue;
        };
        let name = &archive[at + digits..(at + digits + len).min(archive.len())];
        if archive.get(at + digits + len) != Some(&b'E') {
            continue;
        }
        let name = String::from_utf8_lossy(name);
        if !listed.contains(&name.as_ref()) {
            return Err(format!(
                "{} has lld::wasm::WasmSym::{name}, which {} does not reset before a link",
                library.display(),
                link_cpp.display()
            ));
        }
    }
    if listed.is_empty() {
        return Err(format!("no lld statics listed in {}", link_cpp.display()));
    }
    Ok(())
}

fn build_service(sources: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let llvm = Path::new(LLVM);
    let needed = [
        "include/clang/Frontend/CompilerInstance.h",
        "include/lld/Common/Driver.h",
        "lib/libclang-cpp.so",
        "lib/libLLVM-14.so",
        "lib/liblldWasm.a",
        "lib/liblldCommon.a",
    ];
    if let Some(missing) = needed.iter().map(|f| llvm.join(f)).find(|f| !f.exists()) {
        return Err(format!(
            "{} is missing (apt-get install llvm-14-dev libclang-14-dev libclang-cpp14-dev liblld-14-dev)",
            missing.display()
        ));
    }
    lld_statics_all_reset(&llvm.join("lib/liblldWasm.a"), &sources.join("link.cpp"))?;
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let include = format!("-I{LLVM}/include");
    // `jank-build-service --version` says which jank-hotpatch it was built with.
    let version = format!("-DJANK_HOTPATCH_VERSION=\"{}\"", env!("CARGO_PKG_VERSION"));
    // The three units compile in parallel: clang's headers make each one slow.
    let compiles: Vec<(PathBuf, std::process::Child)> = SOURCES
        .iter()
        .map(|source| {
            let object = out_dir.join(source).with_extension("o");
            let child = Command::new(&cxx)
                .args(["-std=c++17", "-O2", "-pthread", "-fno-exceptions", "-D_GNU_SOURCE", "-D__STDC_CONSTANT_MACROS"])
                .args(["-D__STDC_FORMAT_MACROS", "-D__STDC_LIMIT_MACROS", &include, &version, "-c"])
                .arg(sources.join(source))
                .arg("-o")
                .arg(&object)
                .spawn()
                .map_err(|e| format!("cannot run {cxx}: {e}"))?;
            Ok((object, child))
        })
        .collect::<Result<_, String>>()?;
    let mut objects = Vec::new();
    for (object, child) in compiles {
        let output = child.wait_with_output().map_err(|e| format!("{cxx} did not finish: {e}"))?;
        if !output.status.success() {
            return Err(format!("{cxx} failed on {}", object.display()));
        }
        objects.push(object);
    }
    let binary = out_dir.join("jank-build-service");
    let status = Command::new(&cxx)
        .args(&objects)
        .arg("-o")
        .arg(&binary)
        .arg(format!("-L{LLVM}/lib"))
        .arg(llvm.join("lib/liblldWasm.a"))
        .arg(llvm.join("lib/liblldCommon.a"))
        .args(["-pthread", "-lclang-cpp", "-lLLVM-14", &format!("-Wl,-rpath,{LLVM}/lib")])
        .status()
        .map_err(|e| format!("cannot run {cxx}: {e}"))?;
    if !status.success() {
        return Err(format!("linking {} failed", binary.display()));
    }
    Ok(binary)
}
