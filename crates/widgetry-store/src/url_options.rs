//! The query options of store URLs that Widgetry reads itself (TLS, pool sizes,
//! timeouts): taken out of the URL before the driver sees it, percent-decoded, and
//! checked, so a typo is an error naming the option rather than a silent default.

use std::time::Duration;

use crate::{StoreError, StoreResult};

/// A store URL split into what the driver reads and the options Widgetry reads.
#[derive(Debug)]
pub(crate) struct UrlOptions {
    /// The URL (or `key=value` string) without the options taken out.
    pub(crate) rest: String,
    /// The options taken out, in order, decoded.
    taken: Vec<(String, String)>,
    /// The redacted URL, for messages.
    shown: String,
}

impl UrlOptions {
    /// Takes the options named in `ours` out of `url`: the `?a=b&c=d` query of a URL, or
    /// the `a=b c=d` words of a PostgreSQL key-value string.
    pub(crate) fn take(url: &str, ours: &[&str]) -> Self {
        let shown = crate::redact::redact(url);
        let mut taken = Vec::new();
        let rest = if url.contains("://") {
            let (base, fragment) = match url.split_once('#') {
                Some((b, f)) => (b, Some(f)),
                None => (url, None),
            };
            let mut rest = match base.split_once('?') {
                Some((head, query)) => {
                    let mut kept = Vec::new();
                    for pair in query.split('&').filter(|p| !p.is_empty()) {
                        let decoded = url::form_urlencoded::parse(pair.as_bytes()).next();
                        match decoded {
                            Some((k, v)) if ours.contains(&k.as_ref()) => {
                                taken.push((k.into_owned(), v.into_owned()))
                            }
                            _ => kept.push(pair),
                        }
                    }
                    if kept.is_empty() {
                        head.to_owned()
                    } else {
                        format!("{head}?{}", kept.join("&"))
                    }
                }
                None => base.to_owned(),
            };
            if let Some(f) = fragment {
                rest.push('#');
                rest.push_str(f);
            }
            rest
        } else {
            // Words are split on whitespace, so the rest is rebuilt only when an option was
            // taken out: a quoted value with spaces stays untouched otherwise.
            let mut kept = Vec::new();
            for word in url.split_whitespace() {
                match word.split_once('=') {
                    Some((k, v)) if ours.contains(&k) => taken.push((k.to_owned(), v.to_owned())),
                    _ => kept.push(word),
                }
            }
            if taken.is_empty() {
                url.to_owned()
            } else {
                kept.join(" ")
            }
        };
        Self { rest, taken, shown }
    }

    /// The value of option `name` (the last one when repeated).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.taken
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn invalid(&self, name: &str, value: &str, expected: &str) -> StoreError {
        StoreError::InvalidConfig(format!(
            "`{name}={value}` in {}: expected {expected}",
            self.shown
        ))
    }

    /// Option `name` as a whole number from `min` to `max`.
    pub(crate) fn number(&self, name: &str, min: u64, max: u64) -> StoreResult<Option<u64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(name, v, &format!("a whole number from {min} to {max}"))),
        }
    }

    /// Option `name` as milliseconds, from 1 ms to 10 minutes.
    pub(crate) fn millis(&self, name: &str) -> StoreResult<Option<Duration>> {
        Ok(self.number(name, 1, 600_000)?.map(Duration::from_millis))
    }

    /// Option `name`, one of `allowed`.
    pub(crate) fn choice(&self, name: &str, allowed: &[&str]) -> StoreResult<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(self.invalid(name, v, &format!("one of {}", allowed.join(", ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_out_and_the_rest_stays_as_written() {
        let o = UrlOptions::take(
            "postgres://u:p@h:5432/db?application_name=a%20b&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&pool_max_size=4",
            &["sslmode", "sslrootcert", "pool_max_size"],
        );
        assert_eq!(o.rest, "postgres://u:p@h:5432/db?application_name=a%20b");
        assert_eq!(o.get("sslrootcert"), Some("/tmp/ca.pem"));
        assert_eq!(o.number("pool_max_size", 1, 10).unwrap(), Some(4));
        assert!(o.number("pool_max_size", 5, 10).is_err());
        let kv = UrlOptions::take("host=h user=u sslmode=require dbname=d", &["sslmode"]);
        assert_eq!(kv.rest, "host=h user=u dbname=d");
        assert_eq!(kv.choice("sslmode", &["require"]).unwrap(), Some("require"));
        let bad = UrlOptions::take("postgres://u:secret@h/db?sslmode=verify-ful", &["sslmode"]);
        let e = bad
            .choice("sslmode", &["verify-full"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("verify-ful") && !e.contains("secret"), "{e}");
    }
}
