//! [`WidgetKeys`]: where the keys that sign widget tokens come from, so that every
//! instance of an app verifies what another minted.
//!
//! - From configuration (`WIDGETRY_WIDGET_TOKEN_KEYS`): base64 PKCS#8 P-256 keys, comma
//!   separated; the first signs, every one verifies. Rotation without downtime: add the
//!   new key second on every instance (verified, not yet used), then move it first (it
//!   signs; tokens signed by the old one still verify), then, after the widget-token
//!   lifetime, remove the old one.
//! - From the shared store: the first instance generates a key and stores it (sealed
//!   under the key-encryption key when one is configured) with `put_if_absent`, so
//!   instances starting together agree on one key; the others read it.
//!
//! Without either, a key is generated per process: fine for one instance, wrong for two.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use widgetry_authz::Sealer;
use widgetry_store::{KvStore, Namespace};

static KEYS: Namespace = Namespace::from_static("widgetry.keys");
const STORED_KEY: &str = "widget-token";

/// The widget-token keys: the one that signs, then the ones only accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct WidgetKeys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WidgetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetKeys")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Why widget-token keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetKeyError {
    /// A configured key is not usable.
    #[error("WIDGETRY_WIDGET_TOKEN_KEYS entry {index}: {reason} (generate one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkcs8 -topk8 -nocrypt -outform DER | base64 -w0`)")]
    Config {
        /// Position in the list, from 1.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The shared store failed or holds something unreadable.
    #[error("the widget-token key in the shared store: {0}")]
    Store(String),
}

impl WidgetKeys {
    /// One freshly generated key (per process: instances do not share it).
    pub fn generate() -> Self {
        Self {
            keys: vec![crate::auth::widget_token::generate_key()],
        }
    }

    /// Keys from PKCS#8 DER documents; the first signs. Each must be a P-256 key.
    pub fn from_pkcs8(keys: Vec<Vec<u8>>) -> Result<Self, WidgetKeyError> {
        if keys.is_empty() {
            return Err(WidgetKeyError::Config {
                index: 1,
                reason: "the list is empty".into(),
            });
        }
        for (i, k) in keys.iter().enumerate() {
            check(k).map_err(|reason| WidgetKeyError::Config {
                index: i + 1,
                reason,
            })?;
        }
        Ok(Self { keys })
    }

    /// One key, checked when the app is built ([`crate::app::AppBuilder::widget_token_key`]).
    pub(crate) fn from_pkcs8_unchecked(pkcs8: Vec<u8>) -> Self {
        Self { keys: vec![pkcs8] }
    }

    /// Parses `WIDGETRY_WIDGET_TOKEN_KEYS`: base64 (standard or URL-safe, padding
    /// optional) PKCS#8 keys separated by commas.
    pub fn parse(list: &str) -> Result<Self, WidgetKeyError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                let t = s.trim_end_matches('=');
                URL_SAFE_NO_PAD
                    .decode(t)
                    .or_else(|_| STANDARD.decode(s))
                    .map_err(|e| WidgetKeyError::Config {
                        index: i + 1,
                        reason: format!("not base64: {e}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_pkcs8(keys)
    }

    /// The key shared through `kv`: read, or generated and stored by the first instance
    /// to get there. `sealer` seals it at rest (a plain sealer stores it as is).
    pub async fn shared(kv: &dyn KvStore, sealer: &Sealer) -> Result<Self, WidgetKeyError> {
        let store = |e: widgetry_store::StoreError| WidgetKeyError::Store(e.to_string());
        if let Some(stored) = kv.get(&KEYS, STORED_KEY).await.map_err(store)? {
            return Self::open(&stored, sealer);
        }
        let key = crate::auth::widget_token::generate_key();
        let sealed = sealer
            .seal(&key, STORED_KEY)
            .map_err(|e| WidgetKeyError::Store(e.to_string()))?;
        if kv
            .put_if_absent(&KEYS, STORED_KEY, sealed.as_bytes(), None)
            .await
            .map_err(store)?
        {
            return Ok(Self { keys: vec![key] });
        }
        // Another instance stored one first: use that one.
        match kv.get(&KEYS, STORED_KEY).await.map_err(store)? {
            Some(stored) => Self::open(&stored, sealer),
            None => Err(WidgetKeyError::Store(
                "the key vanished while being created; start again".into(),
            )),
        }
    }

    fn open(stored: &[u8], sealer: &Sealer) -> Result<Self, WidgetKeyError> {
        let text = std::str::from_utf8(stored)
            .map_err(|_| WidgetKeyError::Store("the stored key is not text".into()))?;
        let key = sealer
            .open(text, STORED_KEY)
            .map_err(|e| WidgetKeyError::Store(e.to_string()))?;
        check(&key).map_err(WidgetKeyError::Store)?;
        Ok(Self { keys: vec![key] })
    }

    /// The key that signs new tokens.
    pub fn signing(&self) -> &[u8] {
        &self.keys[0]
    }

    /// Every accepted key, the signing one first.
    pub fn all(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// The keys as `WIDGETRY_WIDGET_TOKEN_KEYS` spells them.
    pub fn to_config(&self) -> String {
        self.keys
            .iter()
            .map(|k| URL_SAFE_NO_PAD.encode(k))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn check(pkcs8: &[u8]) -> Result<(), String> {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
    .map(|_| ())
    .map_err(|e| format!("not a PKCS#8 P-256 private key ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_keys_round_trip_and_bad_ones_are_named() {
        let keys = WidgetKeys::from_pkcs8(vec![
            crate::auth::widget_token::generate_key(),
            crate::auth::widget_token::generate_key(),
        ])
        .unwrap();
        assert_eq!(WidgetKeys::parse(&keys.to_config()).unwrap(), keys);
        let padded = keys
            .all()
            .iter()
            .map(|k| STANDARD.encode(k))
            .collect::<Vec<_>>()
            .join(" , ");
        assert_eq!(WidgetKeys::parse(&padded).unwrap(), keys);
        let e = WidgetKeys::parse(&format!("{},AAAA", keys.to_config())).unwrap_err();
        assert!(matches!(e, WidgetKeyError::Config { index: 3, .. }), "{e}");
        assert!(WidgetKeys::parse("!!").is_err());
        assert!(WidgetKeys::parse(" , ").is_err());
    }
}
