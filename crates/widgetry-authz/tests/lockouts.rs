//! The sign-in page under guessing: lockouts per (account, address) pair that grow, that
//! another address does not share, ceilings per account that slow strangers but not the
//! owner's known address, second-factor guesses counted apart from passwords, and bursts
//! of parallel guesses counted before they are checked — on SQLite and PostgreSQL. (The
//! process-wide bound on password hashing has its own test binary, `hashing_bound.rs`:
//! its burst would fill the queue these tests' sign-ins share.)

mod common;

use std::time::Duration;

use common::sign_in::*;
use common::*;
use widgetry_authz::throttle::ThrottleRules;
use widgetry_authz::NewUser;

const CALLBACK: &str = "http://127.0.0.1:9/callback";

async fn second_factor_from(
    ts: &TestServer,
    stage: &Resp,
    cookie: &str,
    addr: &str,
    code: &str,
) -> Resp {
    let request = stage.hidden("request");
    let csrf = stage.hidden("csrf");
    ts.http
        .post_form(
            &ts.url("/oauth/authorize/second-factor"),
            &[("request", &request), ("csrf", &csrf), ("code", code)],
            &[("cookie", cookie), ("x-forwarded-for", addr)],
        )
        .await
}

/// Signed in: the consent page (200 with "Allow access").
fn signed_in(r: &Resp) -> bool {
    r.status == 200 && r.body.contains("Allow access")
}

/// Runs `test` on a SQLite store and on a PostgreSQL schema of its own.
async fn each_store(test: impl AsyncFn(std::sync::Arc<dyn widgetry_authz::AuthzStore>)) {
    let dir = tempfile::tempdir().unwrap();
    test(sqlite_store(&dir).await).await;
    let pg = PgSchema::create("lockouts").await;
    test(widgetry_authz::open_store(&pg.url).await.unwrap()).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_wrong_passwords_gets_exactly_the_allowed_guesses() {
    each_store(async |store| {
        let ts = server(store, ThrottleRules::default()).await;
        let client = ts.register(CALLBACK, false).await;
        let p = page(&ts, &client).await;
        let burst = (0..30).map(|_| sign_in_from(&ts, &p, "203.0.113.7", USER, "wrong"));
        let replies = futures_util::future::join_all(burst).await;
        let wrong = replies.iter().filter(|r| r.status == 401).count();
        let waiting = replies.iter().filter(|r| r.status == 429).count();
        assert_eq!(wrong, 4, "four wrong answers, the fifth starts the lockout");
        assert_eq!(wrong + waiting, 30);
        // Locked for this address, even with the right password …
        let right = sign_in_from(&ts, &p, "203.0.113.7", USER, PASSWORD).await;
        assert_eq!(right.status, 429, "{}", right.body);
        // … but not from the owner's own network.
        let other = page(&ts, &client).await;
        let owner = sign_in_from(&ts, &other, "198.51.100.20", USER, PASSWORD).await;
        assert!(signed_in(&owner), "{} {}", owner.status, owner.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockouts_of_a_pair_grow_with_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = rules(|r| {
        r.first_lockout = Duration::from_secs(1);
        r.max_lockout = Duration::from_secs(3);
    });
    let ts = server(sqlite_store(&dir).await, r).await;
    let client = ts.register(CALLBACK, false).await;
    let p = page(&ts, &client).await;
    let mut lockouts = Vec::new();
    for _ in 0..3 {
        let mut last = None;
        for _ in 0..5 {
            last = Some(sign_in_from(&ts, &p, "203.0.113.9", USER, "wrong").await);
        }
        let last = last.unwrap();
        assert_eq!(last.status, 429, "{}", last.body);
        let secs: u64 = last
            .body
            .split("Try again in ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no wait in {}", last.body));
        lockouts.push(secs);
        tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(200)).await;
    }
    assert_eq!(lockouts, vec![1, 2, 3], "doubling, capped at max_lockout");
    // After the last lockout the right password works again.
    let ok = sign_in_from(&ts, &p, "203.0.113.9", USER, PASSWORD).await;
    assert!(signed_in(&ok), "{} {}", ok.status, ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_spread_over_many_addresses_are_slowed_but_the_owner_is_not_locked_out() {
    each_store(async |store| {
        let r = rules(|r| {
            r.account_ceiling = 3;
            r.slow_interval = Duration::from_secs(60);
        });
        let ts = server(store, r).await;
        let client = ts.register(CALLBACK, false).await;
        // The owner signs in from home once: that pair is known from now on.
        let home = page(&ts, &client).await;
        assert!(signed_in(
            &sign_in_from(&ts, &home, "198.51.100.1", USER, PASSWORD).await
        ));
        // Someone guesses from many addresses, one guess each.
        let mut statuses = Vec::new();
        for i in 0..8 {
            let p = page(&ts, &client).await;
            let r = sign_in_from(&ts, &p, &format!("203.0.113.{}", 10 + i), USER, "wrong").await;
            statuses.push(r.status);
        }
        // Three under the ceiling, one in the slow lane, then everyone else waits.
        assert_eq!(statuses, vec![401, 401, 401, 401, 429, 429, 429, 429]);
        // The owner at home is not slowed.
        let again = page(&ts, &client).await;
        let owner = sign_in_from(&ts, &again, "198.51.100.1", USER, PASSWORD).await;
        assert!(signed_in(&owner), "{} {}", owner.status, owner.body);
        // An unknown address with the right password waits at most the slow interval.
        let p = page(&ts, &client).await;
        let stranger = sign_in_from(&ts, &p, "192.0.2.50", USER, PASSWORD).await;
        assert_eq!(stranger.status, 429);
        assert!(stranger.body.contains("seconds"), "{}", stranger.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_does_not_buy_more_second_factor_guesses() {
    let dir = tempfile::tempdir().unwrap();
    let ts = server(sqlite_store(&dir).await, ThrottleRules::default()).await;
    let secret = widgetry_authz::generate_totp_secret();
    ts.server
        .users()
        .add(NewUser::new("grace", "compilers all the way").totp_secret(secret))
        .await
        .unwrap();
    let client = ts.register(CALLBACK, false).await;
    let addr = "203.0.113.77";
    let mut codes = Vec::new();
    // Two rounds of: right password, then wrong codes (3 + 2 = the five allowed).
    for round in [3, 2] {
        let p = page(&ts, &client).await;
        let stage = sign_in_from(&ts, &p, addr, "grace", "compilers all the way").await;
        assert_eq!(stage.status, 200, "{}", stage.body);
        assert!(stage.body.contains("one-time-code"));
        let mut at = stage;
        for _ in 0..round {
            let r = second_factor_from(&ts, &at, &p.cookie, addr, "000000").await;
            codes.push(r.status);
            if r.status == 401 {
                at = r;
            }
        }
    }
    assert_eq!(
        codes,
        vec![401, 401, 401, 401, 429],
        "the password reset nothing"
    );
}
