//! Widget-token keys shared between instances: instances opening the same store at the
//! same moment agree on one key (sealed at rest when a key-encryption key is set), any
//! instance verifies what another minted, and a key rotation never refuses a token that
//! was valid before it.

use std::sync::Arc;
use std::time::Duration;

use widgetry::auth::{WidgetKeyError, WidgetKeys, WidgetTokens};
use widgetry::User;
use widgetry_authz::Sealer;
use widgetry_store::KvStore;

const KEK: &str = "an-example-key-encryption-key-of-48-characters!!";

fn user() -> User {
    User {
        subject: "ada".into(),
        scopes: vec!["notes:write".into()],
        client_id: None,
        expires_at: None,
        claims: Default::default(),
    }
}

fn tokens(keys: &WidgetKeys) -> WidgetTokens {
    WidgetTokens::with_keys(
        keys.all(),
        "https://app.example",
        "https://app.example/widget/actions",
        Duration::from_secs(600),
    )
    .expect("tokens")
}

fn mint(t: &WidgetTokens) -> String {
    let declared = vec!["save".to_string()];
    t.mint(
        &user(),
        &declared,
        &|_| Some(vec!["notes:write".into()]),
        "w1",
    )
    .expect("mint")
    .0
}

async fn sqlite(path: &std::path::Path) -> Arc<dyn KvStore> {
    widgetry_store::open_kv_store(path.to_str().unwrap())
        .await
        .expect("open sqlite kv store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_share_one_sealed_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.db");
    let sealer = Sealer::new(Some(KEK)).unwrap();
    // Eight "instances", each with its own connection to the store, start at once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let kv = sqlite(&file).await;
        let sealer = Sealer::new(Some(KEK)).unwrap();
        tasks.push(tokio::spawn(async move {
            WidgetKeys::shared(kv.as_ref(), &sealer).await
        }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap().expect("shared key"));
    }
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "instances disagree");
    // What one mints, every other verifies.
    let token = mint(&tokens(&keys[0]));
    for k in &keys[1..] {
        tokens(k)
            .authorize(&token, "save", &[])
            .expect("verified elsewhere");
    }
    // At rest it is sealed: the raw key bytes are not in the file.
    let raw = std::fs::read(&file).unwrap();
    let needle = keys[0].signing();
    assert!(!raw.windows(needle.len()).any(|w| w == needle));
    // Opened later (a restart) with the same key-encryption key: the same key.
    let again = WidgetKeys::shared(sqlite(&file).await.as_ref(), &sealer)
        .await
        .unwrap();
    assert_eq!(again, keys[0]);
    // With another key-encryption key: a clear error, nothing replaced.
    let other = Sealer::new(Some("another-key-encryption-key-of-forty-eight-chars"));
    let e = WidgetKeys::shared(sqlite(&file).await.as_ref(), &other.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, WidgetKeyError::Store(_)), "{e}");
    assert!(e.to_string().contains("key_encryption_key"), "{e}");
    let still = WidgetKeys::shared(sqlite(&file).await.as_ref(), &sealer)
        .await
        .unwrap();
    assert_eq!(still, keys[0]);
}

#[test]
fn rotation_in_three_steps_never_refuses_a_valid_token() {
    let old = WidgetKeys::generate();
    let new = WidgetKeys::generate();
    let both = |first: &WidgetKeys, second: &WidgetKeys| {
        WidgetKeys::from_pkcs8(vec![first.signing().to_vec(), second.signing().to_vec()]).unwrap()
    };
    // Before: every instance signs with the old key.
    let before = mint(&tokens(&old));
    // Step 1 (rolling): some instances accept the new key, none signs with it yet.
    let step1 = tokens(&both(&old, &new));
    for t in [&tokens(&old), &step1] {
        t.authorize(&before, "save", &[])
            .expect("old token, step 1");
        t.authorize(&mint(&step1), "save", &[])
            .expect("step-1 token");
    }
    // Step 2 (rolling): instances sign with the new key; step-1 instances accept it.
    let step2 = tokens(&both(&new, &old));
    let signed_new = mint(&step2);
    for t in [&step1, &step2] {
        t.authorize(&before, "save", &[])
            .expect("old token, step 2");
        t.authorize(&signed_new, "save", &[])
            .expect("new token, step 2");
    }
    // Step 3: the old key is dropped; its tokens are refused with a clear message.
    let step3 = tokens(&new);
    step3
        .authorize(&signed_new, "save", &[])
        .expect("new token, step 3");
    let e = step3.authorize(&before, "save", &[]).unwrap_err();
    assert!(e.to_string().contains("does not accept"), "{e}");
    // A per-process key (no sharing) refuses the other's tokens: the failure sharing fixes.
    let e = tokens(&WidgetKeys::generate())
        .authorize(&signed_new, "save", &[])
        .unwrap_err();
    assert_eq!(e.code(), "invalid_token");
}

#[test]
fn a_key_made_with_the_documented_openssl_command_is_accepted() {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkcs8 -topk8 -nocrypt -outform DER | base64 -w0")
        .output()
        .expect("openssl (Debian package openssl) is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = WidgetKeys::parse(&String::from_utf8(out.stdout).unwrap()).expect("parse");
    tokens(&keys)
        .authorize(&mint(&tokens(&keys)), "save", &[])
        .unwrap();
}
