//! Where sign-ins are kept between runs: one JSON file
//! (`$XDG_CONFIG_HOME/widgetry/tokens.json`, else `~/.config/widgetry/tokens.json`),
//! readable by the user only (0600, directory 0700), holding tokens keyed by the MCP
//! server URL and dynamic client registrations keyed by authorization server issuer.
//! Every change re-reads the file first, so two runs do not undo each other's work.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::registration::ClientRegistration;
use super::scope::ScopeSet;
use super::AuthError;

/// A token set for one MCP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    /// The bearer token.
    pub access_token: String,
    /// The refresh token, if one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The scopes asked for.
    #[serde(default)]
    pub requested_scope: ScopeSet,
    /// The scopes granted (the token response's `scope`, else what was asked for).
    #[serde(default)]
    pub scope: ScopeSet,
    /// The RFC 8707 resource the token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The authorization server.
    pub issuer: String,
    /// Where to refresh it.
    pub token_endpoint: String,
    /// The client it was issued to (needed to refresh).
    pub client: ClientRegistration,
}

impl StoredToken {
    /// Whether it expires within `margin` seconds.
    pub fn expires_within(&self, margin: u64) -> bool {
        self.expires_at.is_some_and(|at| now() + margin >= at)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    #[serde(default)]
    tokens: BTreeMap<String, StoredToken>,
    #[serde(default)]
    clients: BTreeMap<String, ClientRegistration>,
}

/// The token store: a file, or memory only (for the conformance client and tests).
#[derive(Debug)]
pub struct TokenStore {
    path: Option<PathBuf>,
    data: StoreFile,
}

impl TokenStore {
    /// A store that forgets everything when the process ends.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            data: StoreFile::default(),
        }
    }

    /// The default file location.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("widgetry").join("tokens.json"))
    }

    /// Opens (without creating) the store at `path`.
    pub fn open(path: PathBuf) -> Result<Self, AuthError> {
        let data = read(&path)?;
        Ok(Self {
            path: Some(path),
            data,
        })
    }

    /// The file behind the store, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The token for an MCP server.
    pub fn token(&self, server: &str) -> Option<&StoredToken> {
        self.data.tokens.get(server)
    }

    /// The dynamic registration at an authorization server.
    pub fn client(&self, issuer: &str) -> Option<&ClientRegistration> {
        self.data.clients.get(issuer)
    }

    /// Saves (or with `None` removes) the token of an MCP server.
    pub fn set_token(&mut self, server: &str, token: Option<StoredToken>) -> Result<(), AuthError> {
        self.update(|d| match token {
            Some(t) => {
                d.tokens.insert(server.to_string(), t);
            }
            None => {
                d.tokens.remove(server);
            }
        })
    }

    /// Saves (or with `None` removes) the dynamic registration at an issuer.
    pub fn set_client(
        &mut self,
        issuer: &str,
        client: Option<ClientRegistration>,
    ) -> Result<(), AuthError> {
        self.update(|d| match client {
            Some(c) => {
                d.clients.insert(issuer.to_string(), c);
            }
            None => {
                d.clients.remove(issuer);
            }
        })
    }

    fn update(&mut self, change: impl FnOnce(&mut StoreFile)) -> Result<(), AuthError> {
        if let Some(path) = &self.path {
            self.data = read(path)?;
        }
        change(&mut self.data);
        match &self.path {
            Some(path) => write(path, &self.data),
            None => Ok(()),
        }
    }
}

fn store_error(path: &Path, reason: impl ToString) -> AuthError {
    AuthError::Store {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn read(path: &Path) -> Result<StoreFile, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| store_error(path, format!("{e} (delete the file to start over)"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile::default()),
        Err(e) => Err(store_error(path, e)),
    }
}

fn write(path: &Path, data: &StoreFile) -> Result<(), AuthError> {
    let dir = path
        .parent()
        .ok_or_else(|| store_error(path, "no parent directory"))?;
    create_private_dir(dir).map_err(|e| store_error(path, e))?;
    let json = serde_json::to_vec_pretty(data).map_err(|e| store_error(path, e))?;
    let tmp = dir.join(format!(".tokens.json.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| store_error(path, e))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}
