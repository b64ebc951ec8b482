//! The sealed `requestState` of 2026-07-28 multi round-trip requests.
//!
//! The state a handler asks to get back travels through the client, so the client must
//! neither read nor change it, nor use it anywhere else. It is sealed with AES-256-GCM
//! under the server's key: the plaintext holds the state and an expiry; the additional
//! authenticated data binds it to the caller (their verified subject, or "anonymous")
//! and to the request (method, tool/prompt name or resource URI, and a digest of the
//! arguments in canonical form). A changed byte, another user, another tool, other
//! arguments or a late retry all fail to open, with one error that says which rule
//! applies without revealing anything about the contents.
//!
//! Single use is not guaranteed (as the specification notes): a tool for which a state
//! must be redeemed at most once records the redemption itself.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a `requestState` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not produced by this server for this caller and request, or changed since.
    #[error("requestState failed verification: it was not issued for this caller and request, or it was altered")]
    Invalid,
    /// Produced by this server, but too long ago.
    #[error("requestState has expired: start the request again without it")]
    Expired,
}

/// What a sealed state is bound to.
pub(crate) struct Binding<'a> {
    /// The verified subject of the caller (`None`: anonymous).
    pub principal: Option<&'a str>,
    /// The JSON-RPC method.
    pub method: &'a str,
    /// The tool or prompt name, or the resource URI.
    pub name: &'a str,
    /// The request's arguments (`None` when the method has none).
    pub arguments: Option<&'a Value>,
}

impl Binding<'_> {
    /// The additional authenticated data: a digest of every bound field, each
    /// length-prefixed so no two bindings share an encoding.
    fn aad(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |tag: u8, bytes: &[u8]| {
            h.update([tag]);
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(b'v', b"widgetry-request-state-1");
        match self.principal {
            Some(p) => field(b'u', p.as_bytes()),
            None => field(b'a', b""),
        }
        field(b'm', self.method.as_bytes());
        field(b'n', self.name.as_bytes());
        let mut canon = Vec::new();
        if let Some(a) = self.arguments {
            canonical(a, &mut canon);
        }
        field(b'g', &canon);
        h.finalize().into()
    }
}

/// Writes `v` as JSON with object keys sorted (so two serializations of one value agree).
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The key that seals request states. Instances behind one load balancer must share it
/// ([`super::ServerBuilder::request_state_secret`]); otherwise one is drawn at start-up.
pub(crate) struct StateKey(LessSafeKey);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

/// Largest sealed state accepted back from a client (bytes of its text).
pub const MAX_SEALED_STATE_BYTES: usize = 64 * 1024;

impl StateKey {
    /// A key derived from `secret` (SHA-256 of it, under a domain label).
    pub(crate) fn from_secret(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"widgetry request state key\0");
        h.update(secret);
        let bytes: [u8; 32] = h.finalize().into();
        Self(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &bytes)
                .unwrap_or_else(|_| unreachable!("32 bytes is an AES-256 key")),
        ))
    }

    /// A fresh random key.
    pub(crate) fn random() -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system's random source is unavailable");
        Self::from_secret(&secret)
    }

    /// Seals `state` for `binding`, valid for `ttl` from `now_ms`.
    pub(crate) fn seal(
        &self,
        binding: &Binding<'_>,
        state: &Value,
        ttl: Duration,
        now_ms: u64,
    ) -> String {
        let exp = now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let mut plain = exp.to_be_bytes().to_vec();
        let _ = serde_json::to_writer(&mut plain, state);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source is unavailable");
        let aad = binding.aad();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut plain,
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any message under 64 GiB"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&plain);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Opens a state sealed for `binding`, checking its expiry against `now_ms`.
    pub(crate) fn open(
        &self,
        binding: &Binding<'_>,
        sealed: &str,
        now_ms: u64,
    ) -> Result<Value, StateError> {
        if sealed.len() > MAX_SEALED_STATE_BYTES {
            return Err(StateError::Invalid);
        }
        let mut bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| StateError::Invalid)?;
        if bytes.len() < NONCE_LEN + 8 + AES_256_GCM.tag_len() {
            return Err(StateError::Invalid);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let aad = binding.aad();
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| StateError::Invalid)?;
        let (exp, state) = plain.split_at(8);
        let exp = u64::from_be_bytes(exp.try_into().map_err(|_| StateError::Invalid)?);
        if now_ms >= exp {
            return Err(StateError::Expired);
        }
        serde_json::from_slice(state).map_err(|_| StateError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding<'a>(args: &'a Value) -> Binding<'a> {
        Binding {
            principal: Some("alice"),
            method: "tools/call",
            name: "book",
            arguments: Some(args),
        }
    }

    #[test]
    fn canonical_form_ignores_key_order_but_not_values() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":3}],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"p":3,"q":2}]},"b":1}"#).unwrap();
        let c: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"p":3,"q":2}]},"b":2}"#).unwrap();
        let (mut ca, mut cb, mut cc) = (Vec::new(), Vec::new(), Vec::new());
        canonical(&a, &mut ca);
        canonical(&b, &mut cb);
        canonical(&c, &mut cc);
        assert_eq!(ca, cb);
        assert_ne!(ca, cc);
    }

    #[test]
    fn a_state_opens_only_for_its_binding_key_and_time() {
        let key = StateKey::random();
        let args = json!({"seat": "12A"});
        let state = json!({"step": 2, "held": ["12A"]});
        let sealed = key.seal(&binding(&args), &state, Duration::from_secs(60), 1_000);
        assert_eq!(key.open(&binding(&args), &sealed, 1_001), Ok(state));
        assert_eq!(
            key.open(&binding(&args), &sealed, 61_000),
            Err(StateError::Expired)
        );
        let other_args = json!({"seat": "1A"});
        assert_eq!(
            key.open(&binding(&other_args), &sealed, 1_001),
            Err(StateError::Invalid)
        );
        let mut b = binding(&args);
        b.principal = Some("mallory");
        assert_eq!(key.open(&b, &sealed, 1_001), Err(StateError::Invalid));
        b.principal = None;
        assert_eq!(key.open(&b, &sealed, 1_001), Err(StateError::Invalid));
        let mut b = binding(&args);
        b.name = "cancel";
        assert_eq!(key.open(&b, &sealed, 1_001), Err(StateError::Invalid));
        assert_eq!(
            StateKey::random().open(&binding(&args), &sealed, 1_001),
            Err(StateError::Invalid)
        );
        // Every single-character change of the sealed text is caught.
        for i in 0..sealed.len() {
            let mut t = sealed.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            if t != sealed {
                assert!(key.open(&binding(&args), &t, 1_001).is_err(), "flip at {i}");
            }
        }
        for junk in ["", "x", "====", &"A".repeat(MAX_SEALED_STATE_BYTES + 1)] {
            assert_eq!(
                key.open(&binding(&args), junk, 1_001),
                Err(StateError::Invalid)
            );
        }
    }

    #[test]
    fn secrets_derive_the_same_key_on_every_instance() {
        let args = json!({});
        let a = StateKey::from_secret(b"shared secret of the deployment, 32+ bytes");
        let b = StateKey::from_secret(b"shared secret of the deployment, 32+ bytes");
        let sealed = a.seal(&binding(&args), &json!("s"), Duration::from_secs(5), 0);
        assert_eq!(b.open(&binding(&args), &sealed, 1), Ok(json!("s")));
    }
}
