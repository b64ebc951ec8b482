//! The negative-case battery: every way a request to the token, registration, revocation,
//! introspection and authorization endpoints can be wrong, each checked against the RFC
//! that names its answer — the status, the `error` code, and the shape every OAuth error
//! must have (JSON, `no-store`, an `error_description` in RFC 6749's character set, a
//! `WWW-Authenticate: Basic` challenge on a 401 after Basic authentication).

mod common;

use common::*;
use serde_json::{json, Value};

const LOOPBACK: &str = "http://127.0.0.1:9/callback";

/// One request of the battery and the answer its RFC requires.
struct Case {
    name: &'static str,
    rfc: &'static str,
    status: u16,
    error: &'static str,
    reply: Resp,
    /// The request authenticated with HTTP Basic (a 401 must then challenge Basic).
    basic: bool,
}

/// The shape RFC 6749 §5.2 (and RFC 7591 §3.2.2, RFC 7009 §2.2.1, RFC 7662 §2.3) gives
/// every JSON error answer.
fn check(c: &Case) -> Result<(), String> {
    let r = &c.reply;
    if r.status != c.status {
        return Err(format!(
            "status {} (want {}): {}",
            r.status, c.status, r.body
        ));
    }
    let body: Value = serde_json::from_str(&r.body).map_err(|_| format!("not JSON: {}", r.body))?;
    if body["error"] != c.error {
        return Err(format!("error {} (want {})", body["error"], c.error));
    }
    if !r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
    {
        return Err(format!("content-type {:?}", r.header("content-type")));
    }
    if r.header("cache-control").as_deref() != Some("no-store") {
        return Err(format!("cache-control {:?}", r.header("cache-control")));
    }
    if let Some(d) = body.get("error_description") {
        let d = d.as_str().ok_or("error_description is not a string")?;
        if let Some(bad) = d
            .chars()
            .find(|ch| !matches!(*ch as u32, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
        {
            return Err(format!("error_description has {bad:?}: {d}"));
        }
    }
    if c.status == 401 && c.basic {
        let challenge = r.header("www-authenticate").unwrap_or_default();
        if !challenge.to_ascii_lowercase().starts_with("basic") {
            return Err(format!(
                "401 after Basic without a Basic challenge: {challenge:?}"
            ));
        }
    }
    Ok(())
}

/// A raw form POST with optional Basic credentials.
async fn post(
    ts: &TestServer,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Resp {
    use base64::Engine as _;
    let auth = basic.map(|(id, secret)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    });
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    ts.http.post_form(&ts.url(path), form, &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_has_its_rfc_status_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.refresh_token_grace = std::time::Duration::from_secs(0);
    })
    .await;
    let public = ts.register(LOOPBACK, false).await;
    let other = ts.register(LOOPBACK, false).await;
    let confidential = ts.register(LOOPBACK, true).await;
    let secret = confidential.secret.clone().unwrap();
    let conf = (confidential.id.as_str(), secret.as_str());
    let token = "/oauth/token";

    // Fresh material for the cases.
    let (code, verifier) = ts.code_for(&public, &[]).await;
    let (used_code, used_verifier) = ts.code_for(&public, &[]).await;
    assert_eq!(
        ts.exchange(&public, &used_code, &used_verifier)
            .await
            .status,
        200
    );
    let tokens = ts.tokens_for(&public).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated = ts.refresh(&public, &refresh).await;
    assert_eq!(rotated.status, 200);
    let fresh_refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    let ac = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("code_verifier", verifier.to_string()),
            ("redirect_uri", LOOPBACK.to_string()),
        ]
    };
    let form = |v: &Vec<(&'static str, String)>, extra: &[(&'static str, &str)]| {
        let mut f: Vec<(&str, String)> = v.clone();
        for (k, x) in extra {
            f.push((k, x.to_string()));
        }
        f
    };
    let send = |f: Vec<(&'static str, String)>, basic: Option<(&'static str, &'static str)>| {
        let ts = &ts;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(ts, token, &pairs, basic).await
        }
    };
    // Leak the strings the cases borrow for the whole test.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let public_id = leak(public.id.clone());
    let other_id = leak(other.id.clone());
    let conf_id = leak(conf.0.to_string());
    let conf_secret = leak(conf.1.to_string());

    let mut cases = vec![
        Case {
            name: "no grant_type",
            rfc: "RFC 6749 §5.2 invalid_request",
            status: 400,
            error: "invalid_request",
            reply: send(vec![("client_id", public_id.to_string())], None).await,
            basic: false,
        },
        Case {
            name: "password grant",
            rfc: "RFC 6749 §5.2 unsupported_grant_type (OAuth 2.1 drops it)",
            status: 400,
            error: "unsupported_grant_type",
            reply: send(
                vec![
                    ("grant_type", "password".into()),
                    ("client_id", public_id.into()),
                    ("username", USER.into()),
                    ("password", PASSWORD.into()),
                ],
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "made-up grant type",
            rfc: "RFC 6749 §5.2 unsupported_grant_type",
            status: 400,
            error: "unsupported_grant_type",
            reply: send(
                vec![
                    ("grant_type", "urn:x:made-up".into()),
                    ("client_id", public_id.into()),
                ],
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "code missing",
            rfc: "RFC 6749 §5.2 invalid_request (missing parameter)",
            status: 400,
            error: "invalid_request",
            reply: send(
                vec![
                    ("grant_type", "authorization_code".into()),
                    ("client_id", public_id.into()),
                    ("code_verifier", verifier.clone()),
                ],
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "unknown code",
            rfc: "RFC 6749 §5.2 invalid_grant",
            status: 400,
            error: "invalid_grant",
            reply: send(
                form(&ac("not-a-code", &verifier), &[("client_id", public_id)]),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "code used twice",
            rfc: "RFC 6749 §4.1.2 / §5.2 invalid_grant",
            status: 400,
            error: "invalid_grant",
            reply: send(
                form(&ac(&used_code, &used_verifier), &[("client_id", public_id)]),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "code of another client",
            rfc: "RFC 6749 §5.2 invalid_grant (issued to another client)",
            status: 400,
            error: "invalid_grant",
            reply: send(
                form(&ac(&code, &verifier), &[("client_id", other_id)]),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "wrong PKCE verifier",
            rfc: "RFC 7636 §4.6 invalid_grant",
            status: 400,
            error: "invalid_grant",
            reply: send(
                form(&ac(&code, &"x".repeat(43)), &[("client_id", public_id)]),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "parameter sent twice",
            rfc: "RFC 6749 §3.2 / §5.2 invalid_request (repeated parameter)",
            status: 400,
            error: "invalid_request",
            reply: send(
                form(
                    &ac(&code, &verifier),
                    &[("client_id", public_id), ("code", "again")],
                ),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "unknown public client",
            rfc: "RFC 6749 §5.2 invalid_client",
            status: 401,
            error: "invalid_client",
            reply: send(
                form(&ac(&code, &verifier), &[("client_id", "no-such-client")]),
                None,
            )
            .await,
            basic: false,
        },
        Case {
            name: "confidential client, wrong secret (Basic)",
            rfc: "RFC 6749 §5.2 invalid_client, 401 with WWW-Authenticate",
            status: 401,
            error: "invalid_client",
            reply: send(ac(&code, &verifier), Some((conf_id, "wrong-secret"))).await,
            basic: true,
        },
        Case {
            name: "confidential client without authentication",
            rfc: "RFC 6749 §5.2 invalid_client",
            status: 401,
            error: "invalid_client",
            reply: send(form(&ac(&code, &verifier), &[("client_id", conf_id)]), None).await,
            basic: false,
        },
        Case {
            name: "two authentication methods at once",
            rfc: "RFC 6749 §2.3 (MUST NOT use more than one) invalid_request",
            status: 400,
            error: "invalid_request",
            reply: send(
                form(
                    &ac(&code, &verifier),
                    &[("client_id", conf_id), ("client_secret", conf_secret)],
                ),
                Some((conf_id, conf_secret)),
            )
            .await,
            basic: true,
        },
    ];
    // The refresh-token grant (RFC 6749 §6); reuse of a rotated token (no grace in this
    // server) last, as it revokes the grant the others use.
    let refresh_cases = [
        (
            "unknown refresh token",
            "RFC 6749 §5.2 invalid_grant",
            "invalid_grant",
            "not-a-refresh-token",
            public_id,
            None,
        ),
        (
            "refresh token of another client",
            "RFC 6749 §6 / §5.2 invalid_grant",
            "invalid_grant",
            fresh_refresh.as_str(),
            other_id,
            None,
        ),
        (
            "refresh asking for a wider scope",
            "RFC 6749 §6 / §5.2 invalid_scope",
            "invalid_scope",
            fresh_refresh.as_str(),
            public_id,
            Some(("scope", "orders:read orders:write profile")),
        ),
        (
            "resource this server does not serve",
            "RFC 8707 §2 invalid_target",
            "invalid_target",
            fresh_refresh.as_str(),
            public_id,
            Some(("resource", "https://elsewhere.example/mcp")),
        ),
        (
            "refresh token used again after rotation",
            "RFC 6749 §10.4 / RFC 9700 §4.14.2 invalid_grant",
            "invalid_grant",
            refresh.as_str(),
            public_id,
            None,
        ),
    ];
    for (name, rfc, error, token, client, extra) in refresh_cases {
        let mut f: Vec<(&'static str, String)> = vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", token.into()),
            ("client_id", client.into()),
        ];
        f.extend(extra.map(|(k, v): (&'static str, &str)| (k, v.to_string())));
        cases.push(Case {
            name,
            rfc,
            status: 400,
            error,
            reply: send(f, None).await,
            basic: false,
        });
    }

    // Registration (RFC 7591 §3.2.2).
    let register = |doc: Value| {
        let ts = &ts;
        async move { ts.http.post_json(&ts.url("/oauth/register"), &doc).await }
    };
    for (name, doc, error) in [
        (
            "no redirect_uris",
            json!({"client_name": "x"}),
            "invalid_redirect_uri",
        ),
        (
            "redirect URI with a fragment",
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            "plain http redirect off loopback",
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            "unsupported authentication method",
            json!({"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            "implicit grant",
            json!({"redirect_uris": [LOOPBACK], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
    ] {
        cases.push(Case {
            name,
            rfc: "RFC 7591 §3.2.2",
            status: 400,
            error,
            reply: register(doc).await,
            basic: false,
        });
    }

    // Revocation (RFC 7009 §2.2.1) and introspection (RFC 7662 §2.3).
    cases.push(Case {
        name: "revocation without a token",
        rfc: "RFC 7009 §2.2.1 / RFC 6749 §5.2 invalid_request",
        status: 400,
        error: "invalid_request",
        reply: post(&ts, "/oauth/revoke", &[], Some(conf)).await,
        basic: true,
    });
    cases.push(Case {
        name: "revocation with a wrong client secret",
        rfc: "RFC 7009 §2.1 / RFC 6749 §5.2 invalid_client",
        status: 401,
        error: "invalid_client",
        reply: post(
            &ts,
            "/oauth/revoke",
            &[("token", "t")],
            Some((conf.0, "nope")),
        )
        .await,
        basic: true,
    });
    cases.push(Case {
        name: "introspection by a public client",
        rfc: "RFC 7662 §2.3 invalid_client",
        status: 401,
        error: "invalid_client",
        reply: post(
            &ts,
            "/oauth/introspect",
            &[("token", "t"), ("client_id", public_id)],
            None,
        )
        .await,
        basic: false,
    });
    cases.push(Case {
        name: "introspection with a wrong client secret",
        rfc: "RFC 7662 §2.3 invalid_client",
        status: 401,
        error: "invalid_client",
        reply: post(
            &ts,
            "/oauth/introspect",
            &[("token", "t")],
            Some((conf.0, "nope")),
        )
        .await,
        basic: true,
    });

    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c)
                .err()
                .map(|e| format!("{} [{}]: {e}", c.name, c.rfc))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases answered off their RFC:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The authorization endpoint answers errors found after the client and redirect URI are
/// known by redirecting with `error`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207) —
/// for a trusted (here: loopback) redirect URI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_errors_redirect_with_their_rfc_code_state_and_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(LOOPBACK, false).await;
    let (_, challenge) = pkce();
    let mut failures = Vec::new();
    for (name, extra, error) in [
        (
            "response_type token",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "unknown scope",
            vec![("scope", "admin:everything")],
            "invalid_scope",
        ),
        (
            "no PKCE challenge",
            vec![("code_challenge", "")],
            "invalid_request",
        ),
        (
            "plain PKCE",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "resource not served",
            vec![("resource", "https://elsewhere.example/mcp")],
            "invalid_target",
        ),
    ] {
        let r = ts.authorize(&client, &challenge, &extra).await;
        let got = (
            r.location_param("error"),
            r.location_param("state"),
            r.location_param("iss"),
        );
        let want = (
            Some(error.to_string()),
            Some("st-123".to_string()),
            Some(ts.base.clone()),
        );
        if !matches!(r.status, 302 | 303) || got != want {
            failures.push(format!(
                "{name}: {} {got:?}, want a redirect with {want:?}",
                r.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
