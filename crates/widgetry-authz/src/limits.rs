//! Caps and rate limits on the records anonymous callers can create: dynamic client
//! registrations and pending authorization requests. Each has a ceiling on how many may
//! exist at once and a per-address quota per [`crate::AuthzConfig::creation_rate_window`]
//! (counted atomically in the store, like sign-in guesses), so that nobody can grow the
//! store without bound.
//!
//! The ceilings are read then acted on, so concurrent requests may overshoot them by the
//! number in flight; the per-address quotas are exact. A store error admits the request
//! (the insert that follows reports it).

use crate::{now, Inner};

/// Counts one creation for `key` and says whether it is within `limit` per window.
async fn within_quota(inner: &Inner, key: &str, limit: u32) -> bool {
    let now = now();
    let window = inner.config.creation_rate_window.as_secs().max(1) as i64;
    match inner.store.add_to_counter(key, 1, now, now + window).await {
        Ok(n) => n <= i64::from(limit),
        Err(e) => {
            tracing::warn!(error = %e, "counting a record creation failed");
            true
        }
    }
}

fn window_text(inner: &Inner) -> String {
    let secs = inner.config.creation_rate_window.as_secs();
    if secs % 3600 == 0 {
        let h = secs / 3600;
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else if secs % 60 == 0 {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} seconds")
    }
}

/// Whether a new dynamic registration may be stored; `Err` carries the description.
pub(crate) async fn admit_registration(inner: &Inner, addr: Option<&str>) -> Result<(), String> {
    let c = &inner.config;
    let floor = now() - c.dcr_unused_ttl.as_secs() as i64;
    match inner.store.count_unused_registrations(floor).await {
        Ok(n) if n >= c.max_unused_registrations => {
            return Err(format!(
                "too many registrations are waiting to be used (limit {}); try again later",
                c.max_unused_registrations
            ))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "counting registrations failed"),
    }
    if let Some(addr) = addr {
        if !within_quota(
            inner,
            &format!("register:{addr}"),
            c.registrations_per_address,
        )
        .await
        {
            return Err(format!(
                "too many registrations from this address (limit {} per {}); try again later",
                c.registrations_per_address,
                window_text(inner)
            ));
        }
    }
    Ok(())
}

/// Whether a new pending authorization request may be stored; `Err` carries the message
/// for the error page.
pub(crate) async fn admit_authorization_request(
    inner: &Inner,
    addr: Option<&str>,
) -> Result<(), String> {
    let c = &inner.config;
    match inner.store.count_pending(now()).await {
        Ok(n) if n >= c.max_pending_authorizations => {
            return Err(
                "Too many sign-ins are in progress right now. Try again in a few minutes.".into(),
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "counting authorization requests failed"),
    }
    if let Some(addr) = addr {
        let key = format!("authorize:{addr}");
        if !within_quota(inner, &key, c.pending_authorizations_per_address).await {
            return Err(format!(
                "Too many sign-in requests from your network (limit {} per {}). Try again later.",
                c.pending_authorizations_per_address,
                window_text(inner)
            ));
        }
    }
    Ok(())
}
