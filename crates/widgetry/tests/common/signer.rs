//! An Ed25519 issuer key for tests: a JWKS to hand a `JwtVerifier`, and compact JWS
//! tokens over any header and claims text an issuer could write.
#![allow(dead_code)]

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde_json::{json, Value};

/// The `kid` of the signer's key.
pub const KID: &str = "k1";

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh Ed25519 key.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl Signer {
    pub fn new() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Signer {
            key: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
        }
    }

    pub fn public(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The issuer's JWKS: this key under [`KID`].
    pub fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": KID, "x": b64(self.public())}]})
    }

    /// Signs raw header and claims text.
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_ref()))
    }

    /// Signs raw claims text under the usual header (`EdDSA`, `JWT`, [`KID`]).
    pub fn sign_claims(&self, claims: &str) -> String {
        self.sign_raw(
            &json!({"alg": "EdDSA", "typ": "JWT", "kid": KID}).to_string(),
            claims,
        )
    }

    /// Signs claims under the usual header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_claims(&claims.to_string())
    }

    /// Whether `token` carries a valid signature of this key over exactly what it
    /// presents.
    pub fn signature_matches(&self, token: &str) -> bool {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return false;
        }
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[2]) else {
            return false;
        };
        let input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ED25519, self.public())
            .verify(input.as_bytes(), &sig)
            .is_ok()
    }
}
