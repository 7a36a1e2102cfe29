//! The page token: kept in `<journal dir>/token` (mode 0600) and reused by the next run, so
//! that pages outliving a sidecar restart reconnect with the URL they have.
//!
//! Owns: reading, making and saving it. How the token is checked is `server.rs`'s.

use std::path::{Path, PathBuf};

const TOKEN_FILE: &str = "token";

/// The token of the previous run in `dir`, or a new random one saved there.
pub fn load_or_make(dir: &Path) -> String {
    let path: PathBuf = dir.join(TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim();
        if token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return token.to_string();
        }
        tracing::warn!("{} is not a token; making a new one", path.display());
    }
    let token = format!("{:032x}", rand::random::<u128>());
    if let Err(e) = save_token(&path, &token) {
        tracing::warn!(
            "cannot save the page token to {} ({e}): pages will need the new URL after a restart",
            path.display()
        );
    }
    token
}

fn save_token(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, token.as_bytes())
}
