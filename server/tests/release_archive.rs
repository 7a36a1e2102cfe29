//! The release archive as a user gets it: `scripts/dist.sh`'s
//! `jank-hotpatch-<version>-x86_64-unknown-linux-gnu.tar.gz` (the test run writes it to
//! `target/dist/` from the debug build) unpacked into a temporary directory, and run from there
//! with that directory and the system on `PATH`, nothing of the checkout: `--version` of both
//! binaries, `doctor` against the stand-in jank (`target/debug/jank-standin`, the stand-in and
//! not an artifact), and one save through `jank-hotpatch watch` into the demo page in real
//! headless Chromium.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use support::demo::WAIT;
use test_support::standin::Standin;
use test_support::cdp::Browser;
use test_support::lsp_client::temp_workspace;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The archive, unpacked into a fresh directory: the directory with its files.
fn unpacked(name: &str) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/dist/jank-hotpatch-{VERSION}-x86_64-unknown-linux-gnu.tar.gz"));
    assert!(
        archive.is_file(),
        "{} is missing: run `scripts/dist.sh --profile debug --out target/dist` (scripts/test.sh does)",
        archive.display()
    );
    let dir = temp_workspace(name);
    let status = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&dir).status().expect("run tar");
    assert!(status.success(), "tar -xzf {}", archive.display());
    dir.join(format!("jank-hotpatch-{VERSION}-x86_64-unknown-linux-gnu"))
}

/// `program` (found on `PATH`) with `PATH` = the unpacked archive, then the system's
/// directories, run in `cwd`.
fn from_archive(release: &Path, cwd: &Path, program: &str) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", release.display())).current_dir(cwd);
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim_end().to_string()
}

/// Kills the `watch` process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_archive_holds_both_binaries_the_docs_and_the_licences() {
    let release = unpacked("archive-files");
    let mut files: Vec<String> = std::fs::read_dir(&release)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["CHANGELOG.md", "LICENSE-APACHE", "LICENSE-MIT", "README.md", "jank-build-service", "jank-hotpatch"]
    );
    let somewhere = temp_workspace("archive-version");
    let sidecar = from_archive(&release, &somewhere, "jank-hotpatch").arg("--version").output().unwrap();
    assert_eq!(stdout(&sidecar), format!("jank-hotpatch {VERSION}"));
    let service = from_archive(&release, &somewhere, "jank-build-service").arg("--version").output().unwrap();
    assert_eq!(stdout(&service), format!("jank-build-service {VERSION}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unpacked_anywhere_it_passes_doctor_and_patches_a_page_through_watch() {
    let release = unpacked("archive-watch");
    let dir = temp_workspace("archive-watch-demo");
    let prepared = from_archive(&release, &dir, "jank-hotpatch")
        .args(["demo", "--prepare", "."])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(prepared.success(), "jank-hotpatch demo --prepare");
    let _jank = Standin::start(&dir, &["--mode", "contract"]);

    let doctor = from_archive(&release, &dir, "jank-hotpatch").arg("doctor").output().unwrap();
    let report = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    let sidecar = format!("[✓] sidecar: jank-hotpatch {VERSION} at {}/jank-hotpatch", release.display());
    assert!(report.lines().any(|l| l == sidecar), "no `{sidecar}` in:\n{report}");
    let service = format!("the resident build service {}/jank-build-service (next to jank-hotpatch;", release.display());
    assert!(report.lines().any(|l| l.starts_with("[✓] toolchain: ") && l.contains(&service)), "{report}");

    let _watch = Running(
        from_archive(&release, &dir, "jank-hotpatch")
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jank-hotpatch watch"),
    );
    let url_file = dir.join(".jank-hotpatch/app-url");
    let browser = Browser::launch().await;
    let deadline = std::time::Instant::now() + WAIT;
    let url = loop {
        if let Some(url) = std::fs::read_to_string(&url_file).ok().filter(|u| !u.trim().is_empty()) {
            break url.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "watch wrote no {}", url_file.display());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let page = browser.open(&url).await;
    // watch patches every file once when it starts; a page that connects later replays it.
    page.wait_for("window.demoApp && window.demoApp.values && window.demoApp.values.speed === 3", WAIT).await;
    let core = dir.join("src/demo/core.jank");
    let text = std::fs::read_to_string(&core).unwrap();
    std::fs::write(&core, text.replace("(defn speed [] 3)", "(defn speed [] 8)")).unwrap();
    page.wait_for("window.demoApp.values.speed === 8", WAIT).await;
}
