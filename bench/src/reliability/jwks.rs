//! The issuer's JWKS unreachable for minutes while the keys in hand keep working: an
//! instance trusts an external issuer ([`crate::issuer`]) and refreshes its keys every
//! few seconds (`AUTH_JWKS_REFRESH_SECS`); the issuer goes away (port closed,
//! connections dropped); protected calls with tokens issued before the outage — each one
//! new to the instance, so its signature is checked against the cached keys, not served
//! from the token cache — must all succeed; a token signed with a key the instance has
//! never seen must be refused at once with 401 `invalid_token`; when the issuer comes
//! back publishing that key, the instance accepts it within one refresh.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{source_ip, Conn};
use crate::issuer::{Issuer, Key};
use crate::showcase::Launch;
use crate::{mcp, Section};

/// Settings of the JWKS part.
pub struct JwksConfig {
    /// The instance (its environment gets the issuer's variables added).
    pub launch: Launch,
    /// How long the issuer stays away.
    pub outage: Duration,
    /// `AUTH_JWKS_REFRESH_SECS`.
    pub refresh_secs: u64,
    /// Protected calls per second during the outage.
    pub calls_per_sec: u32,
}

/// One protected call on a fresh session with `token`; the HTTP status, or the error.
async fn protected_call(conn: &mut Conn, token: &str) -> Result<u16, String> {
    let r = mcp::post(conn, None, Some(token), mcp::init_body()).await?;
    if r.status != 200 {
        return Ok(r.status);
    }
    let sid = r
        .header("mcp-session-id")
        .ok_or("no session id")?
        .to_string();
    let call = mcp::post(
        conn,
        Some(&sid),
        Some(token),
        mcp::call_body("protected-widget", json!({})),
    )
    .await?;
    match mcp::tool_result(&call) {
        Ok(_) => Ok(200),
        Err(e) if call.status == 200 => Err(e),
        Err(_) => Ok(call.status),
    }
}

/// Runs the part.
pub async fn run(cfg: JwksConfig) -> Section {
    let mut s = Section::new("issuer's JWKS unreachable");
    match run_inner(&cfg, &mut s).await {
        Ok(()) => s,
        Err(e) => s.fail(e),
    }
}

async fn run_inner(cfg: &JwksConfig, s: &mut Section) -> Result<(), String> {
    let (k1, k2) = (Key::first()?, Key::second()?);
    let mut issuer = Issuer::start(&[&k1]).await?;
    let mut launch = cfg.launch.clone();
    let resource = format!("http://127.0.0.1:{}/mcp", launch.port);
    launch
        .env
        .push(("AUTHORIZATION_SERVER_URL".into(), issuer.url()));
    launch
        .env
        .push(("RESOURCE_SERVER_URL".into(), resource.clone()));
    launch.env.push((
        "AUTH_JWKS_REFRESH_SECS".into(),
        cfg.refresh_secs.to_string(),
    ));
    let instance = launch.start()?;
    let mut conn = Conn::open(source_ip(30_000), instance.addr).await?;
    // Tokens issued before the outage, one per call to come.
    let calls = (cfg.outage.as_secs_f64() * f64::from(cfg.calls_per_sec)).ceil() as usize;
    let mut tokens = Vec::with_capacity(calls + 1);
    for i in 0..=calls {
        tokens.push(k1.token(&issuer.url(), &resource, &format!("user-{i}"))?);
    }
    // The keys are loaded (first call may wait for them).
    let warm = protected_call(&mut conn, &tokens[calls]).await?;
    if warm != 200 {
        return Err(format!(
            "before the outage a protected call answered {warm}; log:\n{}",
            instance.log_tail(10)
        ));
    }
    let log_before = std::fs::read_to_string(&launch.log)
        .map(|t| t.len())
        .unwrap_or(0);
    issuer.stop().await;
    let down = Instant::now();
    let period = Duration::from_secs_f64(1.0 / f64::from(cfg.calls_per_sec));
    let (mut ok, mut failed, mut first_failure) = (0u64, 0u64, None);
    let (mut unknown_refused, mut unknown_wrong, mut unknown_worst) = (0u64, 0u64, Duration::ZERO);
    let mut slowest = Duration::ZERO;
    for (i, token) in tokens.iter().take(calls).enumerate() {
        let at = down + period.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let began = Instant::now();
        match protected_call(&mut conn, token).await {
            Ok(200) => ok += 1,
            other => {
                failed += 1;
                first_failure.get_or_insert(format!(
                    "{:?} after {:?}: {other:?}",
                    token.get(..16),
                    down.elapsed()
                ));
                conn = Conn::open(source_ip(30_001), instance.addr).await?;
            }
        }
        slowest = slowest.max(began.elapsed());
        // Every 20th call: a token signed with a key never published yet.
        if i % 20 == 10 {
            let stranger = k2.token(&issuer.url(), &resource, "stranger")?;
            let began = Instant::now();
            match protected_call(&mut conn, &stranger).await {
                Ok(401) => unknown_refused += 1,
                _ => unknown_wrong += 1,
            }
            unknown_worst = unknown_worst.max(began.elapsed());
        }
    }
    let outage = down.elapsed();
    let log = std::fs::read_to_string(&launch.log).unwrap_or_default();
    let failed_refreshes = log
        .get(log_before..)
        .unwrap_or_default()
        .matches("keeping the keys in hand")
        .count();
    // The issuer returns, now publishing the second key too.
    issuer.publish(&[&k1, &k2]);
    issuer.resume().await?;
    let back = Instant::now();
    let limit = Duration::from_secs(cfg.refresh_secs * 2 + 35);
    let recovered = loop {
        let t = k2.token(
            &issuer.url(),
            &resource,
            &format!("after-{}", back.elapsed().as_millis()),
        )?;
        if protected_call(&mut conn, &t).await == Ok(200) {
            break Some(back.elapsed());
        }
        if back.elapsed() > limit {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    s.line(
        "issuer unreachable for",
        format!("{:.0} s", outage.as_secs_f64()),
    );
    s.line(
        "JWKS refresh interval (AUTH_JWKS_REFRESH_SECS)",
        format!("{} s", cfg.refresh_secs),
    );
    s.line(
        "failed JWKS refreshes logged during the outage",
        failed_refreshes.to_string(),
    );
    s.line(
        "protected calls with tokens issued before the outage",
        format!("{} ok, {failed} failed", ok),
    );
    s.line(
        "slowest of them (initialize + tools/call)",
        format!("{:.0} ms", slowest.as_secs_f64() * 1000.0),
    );
    s.line(
        "unknown-kid tokens during the outage",
        format!(
            "{unknown_refused} refused with 401, {unknown_wrong} otherwise; slowest {:.0} ms",
            unknown_worst.as_secs_f64() * 1000.0
        ),
    );
    s.line(
        "new key accepted after the issuer returned",
        recovered
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .unwrap_or_else(|| "never".into()),
    );
    if failed > 0 {
        s.failures.push(format!(
            "{failed} protected calls failed during the outage; first: {}",
            first_failure.unwrap_or_default()
        ));
    }
    if failed_refreshes == 0 {
        s.failures.push(format!(
            "no failed JWKS refresh was logged: the outage did not exercise the refresh; log:\n{}",
            instance.log_tail(15)
        ));
    }
    if unknown_wrong > 0 || unknown_refused == 0 {
        s.failures.push(format!("unknown-kid tokens: {unknown_refused} refused with 401, {unknown_wrong} answered otherwise"));
    }
    if unknown_worst > Duration::from_secs(5) {
        s.failures.push(format!(
            "refusing an unknown-kid token took {unknown_worst:?}"
        ));
    }
    if recovered.is_none() {
        s.failures.push(format!(
            "the new key was not accepted within {limit:?} of the issuer's return"
        ));
    }
    Ok(())
}
