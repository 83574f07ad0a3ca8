//! The API's bearer token: fixed, or read from a file (a mounted Secret) and read again when
//! the file changes, so that a rotated Secret takes effect without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use subtle::ConstantTimeEq;

/// The token the API compares bearer tokens with. Its `Debug` output never shows it.
pub struct ApiToken {
    file: Option<PathBuf>,
    current: Mutex<Current>,
}

struct Current {
    token: Arc<[u8]>,
    /// The file's modification time and length when it was read.
    stamp: Option<(SystemTime, u64)>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken").field("file", &self.file).finish_non_exhaustive()
    }
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("reading the API token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the API token file {path} is empty")]
    Empty { path: PathBuf },
}

impl ApiToken {
    /// A token that never changes.
    pub fn fixed(token: &[u8]) -> ApiToken {
        ApiToken {
            file: None,
            current: Mutex::new(Current { token: Arc::from(token), stamp: None }),
        }
    }

    /// The token in `path` (surrounding white space trimmed), read again whenever the file's
    /// modification time or length changes.
    pub fn from_file(path: &Path) -> Result<ApiToken, TokenError> {
        Ok(ApiToken { file: Some(path.to_path_buf()), current: Mutex::new(read(path)?) })
    }

    /// Whether `presented` is the token, compared in constant time (only the length can show).
    /// A file that changed is read first; one that cannot be read, or is empty, leaves the
    /// token it held before, so that a half-written Secret never locks everybody out.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(path) = &self.file
            && stamp(path) != current.stamp
        {
            match read(path) {
                Ok(fresh) => {
                    tracing::info!(file = %path.display(), "the API token changed: using the new one");
                    *current = fresh;
                }
                Err(error) => tracing::warn!(%error, "keeping the API token read before"),
            }
        }
        bool::from(presented.ct_eq(&current.token))
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read(path: &Path) -> Result<Current, TokenError> {
    let stamp = stamp(path);
    let text = std::fs::read_to_string(path)
        .map_err(|source| TokenError::Read { path: path.to_path_buf(), source })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty { path: path.to_path_buf() });
    }
    Ok(Current { token: Arc::from(token.as_bytes()), stamp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_file_takes_effect_and_a_broken_one_keeps_the_old_token() {
        let dir = std::env::temp_dir().join(format!("sparkq-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "first\n").expect("written");
        let token = ApiToken::from_file(&path).expect("read");
        assert!(token.accepts(b"first"));
        assert!(!token.accepts(b"second"));

        // A different length, so the change shows even where modification times are coarse.
        std::fs::write(&path, "second-token\n").expect("rotated");
        assert!(token.accepts(b"second-token"));
        assert!(!token.accepts(b"first"));

        // Emptied (a Secret mid-update): the token read before stays.
        std::fs::write(&path, "").expect("emptied");
        assert!(token.accepts(b"second-token"));
        assert!(!format!("{token:?}").contains("second"), "never printed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_or_missing_file_is_refused_at_the_start() {
        let missing = std::env::temp_dir().join("sparkq-token-missing-file");
        assert!(matches!(ApiToken::from_file(&missing), Err(TokenError::Read { .. })));
        let dir = std::env::temp_dir().join(format!("sparkq-token-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("token"), " \n").expect("written");
        let error = ApiToken::from_file(&dir.join("token")).expect_err("empty");
        assert!(error.to_string().contains("is empty"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
