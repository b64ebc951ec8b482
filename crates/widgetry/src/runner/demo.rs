//! The demo user: an account on the embedded authorization server to sign in with while
//! developing, created on first start. Its password is `WIDGETRY_DEMO_PASSWORD`, else the
//! one kept in `<data dir>/demo-password` (readable by its owner only), else a new random
//! one (then kept there); the runner prints it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::embedded::EmbeddedAuth;

/// When the demo user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// In development (`WIDGETRY_DEV=1`) only.
    Dev,
    /// Always (a demo app).
    Always,
}

/// The demo user an app run by [`Runner`](super::Runner) creates: by default
/// `demo@example.com`, in development only. `WIDGETRY_DEMO_USER=1` creates it anyway,
/// `WIDGETRY_DEMO_USER=0` never. It may grant every scope the app supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    email: String,
    name: String,
    when: When,
}

impl Default for DemoUser {
    fn default() -> Self {
        Self::new("demo@example.com")
    }
}

impl DemoUser {
    /// A demo user with this email (its name: "Demo User"), in development only.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: "Demo User".into(),
            when: When::Dev,
        }
    }

    /// Its display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Creates it outside development too (a demo app meant to be tried as deployed).
    pub fn always(mut self) -> Self {
        self.when = When::Always;
        self
    }

    /// Its email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// Whether it should exist: `WIDGETRY_DEMO_USER` (`1`/`0`) decides, else its rule.
    pub(crate) fn wanted(&self, dev: bool, var: Option<&str>) -> bool {
        match var.map(str::trim) {
            Some("1") => true,
            Some("0") => false,
            _ => self.when == When::Always || dev,
        }
    }

    /// Creates it if missing; its password when known here (see the module docs).
    pub(crate) async fn ensure(
        &self,
        auth: &EmbeddedAuth,
        data_dir: &Path,
    ) -> Result<Option<String>, String> {
        let file = password_file(data_dir);
        let chosen = std::env::var("WIDGETRY_DEMO_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        let password = chosen
            .clone()
            .or_else(|| {
                std::fs::read_to_string(&file)
                    .ok()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
            })
            .unwrap_or_else(|| format!("demo-{}", crate::random::random_hex(6)));
        let users = auth.server().users();
        // No scope list: it may grant every scope the app supports. Another instance
        // starting at the same moment may create it first: then it is checked as existing.
        let exists = users.get(&self.email).await.map_err(|e| e.to_string())?;
        let created = match exists {
            Some(_) => false,
            None => {
                let new = widgetry_authz::NewUser::new(&self.email, &password).name(&self.name);
                match users.add(new).await {
                    Ok(_) => true,
                    Err(widgetry_authz::AuthzError::UserExists(_)) => false,
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        let known = created
            || users
                .verify_password(&self.email, &password)
                .await
                .map_err(|e| e.to_string())?
                .is_some();
        // A chosen password is the environment's to keep; a generated one is kept here.
        if known && chosen.is_none() {
            let _ = std::fs::create_dir_all(data_dir);
            let _ = write_private(&file, &password);
        }
        Ok(known.then_some(password))
    }
}

/// Where the demo user's password is kept.
pub(crate) fn password_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-password")
}

/// Writes a file only its owner can read (on Unix).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_overrides_the_rule() {
        let dev_only = DemoUser::default();
        assert!(!dev_only.wanted(false, None));
        assert!(dev_only.wanted(true, None));
        assert!(dev_only.wanted(false, Some("1")));
        assert!(!dev_only.wanted(true, Some("0")));
        let always = DemoUser::new("demo@widgetry.dev").always();
        assert!(always.wanted(false, None));
        assert!(!always.wanted(false, Some(" 0 ")));
    }
}
