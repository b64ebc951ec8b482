//! One sign-in session as stored, its two-part id, and who may use it.
//!
//! A session id handed to the conversation is 64 hex digits: a public half (the store key,
//! also given to the widget and its endpoint) and a secret half, stored only as a hash.
//! The tools need the whole id, so whoever learns the public half (from the widget, a log,
//! the endpoint) can neither read who signed in nor take the widget's nonce; on a stateful
//! MCP session the tools also need the MCP session that created it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use widgetry_store::{KvStore, Namespace};

use crate::random::random_hex;

static SESSIONS: Namespace = Namespace::from_static("widgetry.signin");

/// Hex digits of each half of a session id.
const HALF: usize = 32;

/// One sign-in session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) nonce_hash: String,
    /// `credentials` → `code` → `done`.
    pub(super) state: String,
    /// The MCP session that created it, if the transport has sessions.
    pub(super) owner: Option<String>,
    /// SHA-256 of the secret half of the id.
    #[serde(default)]
    pub(super) secret_hash: String,
    pub(super) subject: Option<String>,
    pub(super) email: Option<String>,
    pub(super) name: Option<String>,
    pub(super) method: Option<String>,
    pub(super) code_hash: Option<String>,
    pub(super) code_expires_ms: Option<u64>,
    pub(super) expires_ms: u64,
    pub(super) nonce_issued: bool,
}

/// Why a tool may not use a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Unknown, expired, or the secret half is wrong (indistinguishable on purpose).
    Unknown,
    /// The id is right but another MCP session created it.
    OtherConversation,
}

/// SHA-256 in hex.
pub(super) fn hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equality in time independent of where the strings differ.
pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A random six-digit code.
pub(super) fn six_digits() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the operating system's random source is unavailable");
    format!("{:06}", u32::from_le_bytes(b) % 1_000_000)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh id: `(public half, whole id)` and the secret's hash to store.
pub(super) fn new_id() -> (String, String, String) {
    let public = random_hex(HALF / 2);
    let secret = random_hex(HALF / 2);
    let whole = format!("{public}{secret}");
    (public, whole, hash(&secret))
}

/// The sessions in a key-value store.
pub(super) struct Sessions<'a>(pub(super) &'a dyn KvStore);

impl Sessions<'_> {
    /// The live session under a public id (`None` for malformed ids too).
    pub(super) async fn load(&self, public: &str) -> Result<Option<Session>, String> {
        if !is_hex(public, HALF) {
            return Ok(None);
        }
        let raw = self
            .0
            .get(&SESSIONS, public)
            .await
            .map_err(|e| e.to_string())?;
        Ok(raw
            .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
            .filter(|s| s.expires_ms > widgetry_store::now_ms()))
    }

    /// The session a tool names by its whole id, if the caller may use it: `(public half,
    /// session)`.
    pub(super) async fn open(
        &self,
        whole: &str,
        mcp_session: Option<&str>,
    ) -> Result<Result<(String, Session), Refused>, String> {
        if !is_hex(whole, 2 * HALF) {
            return Ok(Err(Refused::Unknown));
        }
        let (public, secret) = whole.split_at(HALF);
        let Some(s) = self.load(public).await? else {
            return Ok(Err(Refused::Unknown));
        };
        if !ct_eq(&hash(secret), &s.secret_hash) {
            return Ok(Err(Refused::Unknown));
        }
        if s.owner.is_some() && s.owner.as_deref() != mcp_session {
            return Ok(Err(Refused::OtherConversation));
        }
        Ok(Ok((public.to_owned(), s)))
    }

    /// Stores a session until it expires.
    pub(super) async fn save(&self, public: &str, s: &Session) -> Result<(), String> {
        let left = s.expires_ms.saturating_sub(widgetry_store::now_ms()).max(1);
        let bytes = serde_json::to_vec(s).map_err(|e| e.to_string())?;
        self.0
            .put(&SESSIONS, public, &bytes, Some(Duration::from_millis(left)))
            .await
            .map_err(|e| e.to_string())
    }
}

/// `j•••@example.com`.
pub(super) fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((u, d)) if !u.is_empty() => format!(
            "{}•••@{d}",
            &u[..u.chars().next().map(char::len_utf8).unwrap_or(1)]
        ),
        _ => "your email".into(),
    }
}
