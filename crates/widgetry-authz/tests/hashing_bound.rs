//! The process-wide bound on password hashing (argon2id: ~19 MiB and a core each): a burst
//! of sign-ins is answered — wrong or "busy, try again" — never with unbounded parallel
//! hashing. Its own test binary, so its queue is not shared with other tests' sign-ins.

mod common;

use std::time::Duration;

use common::sign_in::*;
use common::*;

const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_is_answered_without_unbounded_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let r = rules(|r| {
        r.account_ceiling = 10_000;
        r.address_ceiling = 10_000;
    });
    let ts = server(sqlite_store(&dir).await, r).await;
    let client = ts.register(CALLBACK, false).await;
    let p = page(&ts, &client).await;
    // 200 different accounts at once (no lockout applies): every one is answered, wrong
    // (401) or "busy, try again" (503) once the hashing queue is full.
    let burst = (0..200).map(|i| {
        let p = &p;
        let ts = &ts;
        async move { sign_in_from(ts, p, "203.0.113.99", &format!("user{i}"), "wrong").await }
    });
    let replies = tokio::time::timeout(
        Duration::from_secs(120),
        futures_util::future::join_all(burst),
    )
    .await
    .expect("every sign-in is answered");
    let wrong = replies.iter().filter(|r| r.status == 401).count();
    let busy = replies
        .iter()
        .filter(|r| r.status == 503 && r.body.contains("busy"))
        .count();
    assert_eq!(wrong + busy, 200, "only wrong or busy answers");
    assert!(busy > 0, "the queue of password checks is bounded");
    assert!(wrong >= 2, "the slots still work");
}
