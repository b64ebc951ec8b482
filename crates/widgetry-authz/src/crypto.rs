//! Small cryptographic building blocks: random identifiers and secrets, SHA-256 digests
//! for values stored only as hashes, constant-time comparison, and sealing of secrets at
//! rest (AES-256-GCM under a key derived from the configured key-encryption key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
#[cfg(feature = "server")]
use sha2::{Digest, Sha256};

use crate::AuthzError;

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom reads the OS generator; failure means the OS cannot supply
    // randomness at all, and nothing secure can continue.
    SystemRandom::new()
        .fill(&mut buf)
        .unwrap_or_else(|_| panic!("the operating system's random number generator failed"));
    buf
}

#[cfg(feature = "server")]
/// A random 256-bit token, base64url without padding (43 characters).
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

#[cfg(feature = "server")]
/// A random 128-bit identifier, base64url without padding (22 characters).
pub(crate) fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

#[cfg(feature = "server")]
/// SHA-256 of `value`, base64url without padding: how codes, tokens, secrets and cookies
/// are stored.
pub(crate) fn hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

#[cfg(feature = "server")]
/// Equality in time independent of where the inputs differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const SEALED_PREFIX: &str = "sealed:v1:";
const PLAIN_PREFIX: &str = "plain:";

/// Seals secrets stored in the database (signing keys, TOTP secrets, the app's
/// widget-token keys) with AES-256-GCM under a key derived (HKDF-SHA256) from the
/// key-encryption key when one is configured, and marks them plain otherwise.
///
/// ```
/// let sealer = widgetry_authz::Sealer::new(Some("0123456789abcdef0123456789abcdef")).unwrap();
/// let stored = sealer.seal(b"secret", "key-1").unwrap();
/// assert_eq!(sealer.open(&stored, "key-1").unwrap(), b"secret");
/// assert!(sealer.open(&stored, "key-2").is_err());
/// ```
pub struct Sealer {
    key: Option<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("encrypting", &self.key.is_some())
            .finish()
    }
}

impl Sealer {
    /// A sealer keyed by HKDF-SHA256 of `secret`, or a pass-through one when `None`.
    pub fn new(secret: Option<&str>) -> Result<Self, AuthzError> {
        let Some(secret) = secret else {
            return Ok(Self { key: None });
        };
        if secret.len() < 32 {
            return Err(AuthzError::Config(
                "key_encryption_key must be at least 32 characters of random data \
                 (e.g. `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"widgetry-authz sealing v1");
        let prk = salt.extract(secret.as_bytes());
        let okm = prk
            .expand(&[b"aes-256-gcm"], &AES_256_GCM)
            .map_err(|_| AuthzError::Config("cannot derive the sealing key".into()))?;
        let key = LessSafeKey::new(UnboundKey::from(okm));
        Ok(Self { key: Some(key) })
    }

    /// Seals `plain`, binding it to `context` (e.g. the key id) as associated data.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, AuthzError> {
        let Some(key) = &self.key else {
            return Ok(format!("{PLAIN_PREFIX}{}", URL_SAFE_NO_PAD.encode(plain)));
        };
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .map_err(|_| AuthzError::Internal("sealing a secret failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens what [`Sealer::seal`] produced with the same `context`.
    pub fn open(&self, stored: &str, context: &str) -> Result<Vec<u8>, AuthzError> {
        if let Some(b64) = stored.strip_prefix(PLAIN_PREFIX) {
            return URL_SAFE_NO_PAD.decode(b64).map_err(|_| {
                AuthzError::Internal(format!("stored secret {context} is malformed"))
            });
        }
        let Some(b64) = stored.strip_prefix(SEALED_PREFIX) else {
            return Err(AuthzError::Internal(format!(
                "stored secret {context} has an unknown format"
            )));
        };
        let Some(key) = &self.key else {
            return Err(AuthzError::Config(format!(
                "the store holds secrets ({context}) sealed with a key-encryption key; \
                 configure the same key_encryption_key to open it"
            )));
        };
        let raw = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| AuthzError::Internal(format!("stored secret {context} is malformed")))?;
        if raw.len() < NONCE_LEN {
            return Err(AuthzError::Internal(format!(
                "stored secret {context} is truncated"
            )));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| AuthzError::Internal(format!("stored secret {context} is malformed")))?;
        let mut buf = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| {
                AuthzError::Config(format!(
                    "cannot open the stored secret {context}: the key_encryption_key differs \
                     from the one it was sealed with"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let sealer = Sealer::new(Some("0123456789abcdef0123456789abcdef")).unwrap();
        let sealed = sealer.seal(b"pkcs8 bytes", "signing-key:a").unwrap();
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert_eq!(
            sealer.open(&sealed, "signing-key:a").unwrap(),
            b"pkcs8 bytes"
        );
        assert!(sealer.open(&sealed, "signing-key:b").is_err());
        let other = Sealer::new(Some("fedcba9876543210fedcba9876543210")).unwrap();
        assert!(other.open(&sealed, "signing-key:a").is_err());
        assert!(Sealer::new(None)
            .unwrap()
            .open(&sealed, "signing-key:a")
            .is_err());
        assert!(Sealer::new(Some("short")).is_err());
    }

    #[test]
    fn plain_secrets_round_trip() {
        let sealer = Sealer::new(None).unwrap();
        let stored = sealer.seal(b"abc", "x").unwrap();
        assert_eq!(sealer.open(&stored, "x").unwrap(), b"abc");
    }
}
