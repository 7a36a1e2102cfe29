//! The app's static files: the page, the main module `.js`/`.wasm`, assets.
//!
//! Owns: mapping a request path to a file that is inside the root and nothing else (`..`,
//! encoded dots and slashes, backslashes, NUL, absolute paths and symlinks leading out of
//! the root are refused), content types, and putting the page token into HTML pages that
//! were requested with it. Must not know about patches or sockets.

use std::path::{Component, Path, PathBuf};

/// Why a request path is not served.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error("malformed path")]
    Malformed,
    #[error("not found")]
    NotFound,
}

/// The canonical file under `root` (canonical) that `raw_path` (the URL path, still
/// percent-encoded) names; directories mean their `index.html`.
pub fn resolve(root: &Path, raw_path: &str) -> Result<PathBuf, PathRefused> {
    let decoded = percent_decode(raw_path).ok_or(PathRefused::Malformed)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(PathRefused::Malformed);
    }
    let relative = decoded.trim_start_matches('/');
    let mut candidate = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => candidate.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(PathRefused::Malformed),
        }
    }
    let mut file = candidate.canonicalize().map_err(|_| PathRefused::NotFound)?;
    if file.is_dir() {
        file = file.join("index.html").canonicalize().map_err(|_| PathRefused::NotFound)?;
    }
    // After resolving symlinks: a link inside the root that points out of it is refused.
    if !file.starts_with(root) || !file.is_file() {
        return Err(PathRefused::NotFound);
    }
    Ok(file)
}

/// `%xx` decoding; `None` for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The meta tag `client.js` reads the token from.
pub const TOKEN_META: &str = "jank-hotpatch-token";

/// Puts `<meta name="jank-hotpatch-token">` at the start of the page's `<head>` (or of the
/// page, if it has none), so the client finds the token even after the app changes its URL.
pub fn inject_token(html: &str, token: &str) -> String {
    let meta = format!(r#"<meta name="{TOKEN_META}" content="{token}">"#);
    let at = html
        .to_ascii_lowercase()
        .find("<head")
        .and_then(|start| html[start..].find('>').map(|end| start + end + 1))
        .unwrap_or(0);
    format!("{}{meta}{}", &html[..at], &html[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app root (inside the test's dir, beside a file it must not serve) and the dir.
    fn root() -> (PathBuf, crate::test_dir::TestDir) {
        let dir = crate::test_dir::TestDir::new("static");
        std::fs::create_dir_all(dir.join("app/sub")).unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        std::fs::write(dir.join("app/index.html"), "<html><head></head></html>").unwrap();
        std::fs::write(dir.join("app/sub/a b.js"), "1").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("app/link.txt")).unwrap();
        (dir.join("app").canonicalize().unwrap(), dir)
    }

    #[test]
    fn serves_only_inside_the_root() {
        let (root, _dir) = root();
        assert_eq!(resolve(&root, "/").unwrap(), root.join("index.html"));
        assert_eq!(resolve(&root, "/sub/a%20b.js").unwrap(), root.join("sub/a b.js"));
        assert_eq!(resolve(&root, "/./sub/../index.html"), Err(PathRefused::Malformed));
        for attack in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/..%5csecret.txt",
            "/sub/%2E%2E/%2E%2E/secret.txt",
        ] {
            assert_eq!(resolve(&root, attack), Err(PathRefused::Malformed), "{attack}");
        }
        assert_eq!(resolve(&root, "//etc/passwd"), Err(PathRefused::NotFound), "a leading // stays inside the root");
        assert_eq!(resolve(&root, "/index.html%00.js"), Err(PathRefused::Malformed));
        assert_eq!(resolve(&root, "/%zz"), Err(PathRefused::Malformed));
        assert_eq!(resolve(&root, "/link.txt"), Err(PathRefused::NotFound), "symlink out of the root");
        assert_eq!(resolve(&root, "/missing.js"), Err(PathRefused::NotFound));
    }

    #[test]
    fn token_goes_into_the_head() {
        let html = inject_token("<!doctype html><HTML><Head lang=x><title>t</title></head>", "abc");
        assert_eq!(
            html,
            r#"<!doctype html><HTML><Head lang=x><meta name="jank-hotpatch-token" content="abc"><title>t</title></head>"#
        );
        assert!(inject_token("<p>no head</p>", "abc").starts_with("<meta"));
    }
}
