//! Builds `build-service/` (the resident build: clang and lld kept loaded, C++) with the
//! system C++ compiler when Debian's LLVM 14 clang and lld libraries are installed
//! (`scripts/setup.sh` installs them). Without them, or if the C++ does not build, the crate
//! still builds: the sidecar then builds patches with the clang toolchain and says why.
//!
//! Tells the crate through `JANK_BUILD_SERVICE` (the binary's path) or
//! `JANK_BUILD_SERVICE_MISSING` (the reason there is none).

use std::path::{Path, PathBuf};
use std::process::Command;

const LLVM: &str = "/usr/lib/llvm-14";
const SOURCES: [&str; 3] = ["main.cpp", "compile.cpp", "link.cpp"];

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
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let include = format!("-I{LLVM}/include");
    // The three units compile in parallel: clang's headers make each one slow.
    let compiles: Vec<(PathBuf, std::process::Child)> = SOURCES
        .iter()
        .map(|source| {
            let object = out_dir.join(source).with_extension("o");
            let child = Command::new(&cxx)
                .args(["-std=c++17", "-O2", "-pthread", "-fno-exceptions", "-D_GNU_SOURCE", "-D__STDC_CONSTANT_MACROS"])
                .args(["-D__STDC_FORMAT_MACROS", "-D__STDC_LIMIT_MACROS", &include, "-c"])
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
