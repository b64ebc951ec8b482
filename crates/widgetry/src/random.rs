//! Unguessable identifiers from the operating system's random source: session ids,
//! server-to-client request ids, token ids, widget session ids.

/// `n` random bytes from the OS, as lowercase hex (`2n` characters).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // getrandom only fails when the OS has no entropy source at all; abort loudly then.
    getrandom::fill(&mut buf).expect("the operating system's random source is unavailable");
    let mut s = String::with_capacity(n * 2);
    for b in buf {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_of_the_asked_length_and_differ() {
        let a = super::random_hex(16);
        let b = super::random_hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
