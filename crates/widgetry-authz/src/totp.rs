//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits,
//! accepted one step either side of now. Secrets travel as base32 (RFC 4648, no padding),
//! the form authenticator apps expect.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::AuthzError;

/// Seconds per TOTP step.
pub const TOTP_STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes bytes as unpadded base32.
fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32, ignoring case, spaces, dashes and padding.
fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        if matches!(c, b' ' | b'-' | b'=') {
            continue;
        }
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Parses and checks a base32 TOTP secret (at least 80 bits).
pub(crate) fn decode_secret(secret: &str) -> Result<Vec<u8>, AuthzError> {
    let bytes = base32_decode(secret).ok_or_else(|| {
        AuthzError::InvalidInput("the TOTP secret is not base32 (A-Z, 2-7)".into())
    })?;
    if bytes.len() < 10 {
        return Err(AuthzError::InvalidInput(
            "the TOTP secret is too short; use at least 16 base32 characters (80 bits)".into(),
        ));
    }
    Ok(bytes)
}

/// A fresh random TOTP secret (160 bits), base32, for [`crate::NewUser::totp_secret`].
pub fn generate_totp_secret() -> String {
    base32_encode(&crate::crypto::random_bytes::<20>())
}

fn code_for_step(secret: &[u8], step: i64) -> u32 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for HMAC.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

/// The 6-digit code of a base32 secret at a Unix time (for tests and enrolment checks).
///
/// ```
/// // RFC 6238 test vector (SHA-1 secret "12345678901234567890", T = 59): 94287082 → 287082.
/// let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// assert_eq!(widgetry_authz::totp_code(secret, 59).unwrap(), "287082");
/// ```
pub fn totp_code(secret: &str, unix_time: i64) -> Result<String, AuthzError> {
    let key = decode_secret(secret)?;
    Ok(format!(
        "{:06}",
        code_for_step(&key, unix_time.div_euclid(TOTP_STEP_SECONDS))
    ))
}

/// The `otpauth://` URI an authenticator app scans to enrol `secret`.
pub fn totp_provisioning_uri(issuer_name: &str, username: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        percent_encode(issuer_name),
        percent_encode(username),
        secret,
        percent_encode(issuer_name)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The step whose code matches `code` within ±1 step of `now`, if any.
pub(crate) fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let current = now.div_euclid(TOTP_STEP_SECONDS);
    let mut found = None;
    // Compare all three steps to keep the time independent of which one matches.
    for step in [current - 1, current, current + 1] {
        if code_for_step(secret, step) == wanted && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // Secret "12345678901234567890"; the RFC's 8-digit values, truncated to 6.
        let secret = base32_encode(b"12345678901234567890");
        for (t, want) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(totp_code(&secret, t).unwrap(), want, "T={t}");
        }
    }

    #[test]
    fn base32_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base32_decode(&base32_encode(data)).unwrap(), data);
        }
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn accepts_one_step_of_drift_only() {
        let key = b"12345678901234567890";
        let now = 1_000_000_000;
        let code = |t: i64| format!("{:06}", code_for_step(key, t.div_euclid(30)));
        assert!(matching_step(key, &code(now), now).is_some());
        assert!(matching_step(key, &code(now - 30), now).is_some());
        assert!(matching_step(key, &code(now + 30), now).is_some());
        assert!(matching_step(key, &code(now - 90), now).is_none());
        assert!(matching_step(key, "12345", now).is_none());
    }
}
