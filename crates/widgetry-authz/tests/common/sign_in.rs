//! The sign-in page as a browser posts it: the page with its cookie, the password form
//! from a given client address (the tests' servers trust their loopback proxy), and the
//! throttle settings and server those tests use.

use super::*;
use widgetry_authz::throttle::ThrottleRules;

/// A sign-in page with its browser cookie.
pub struct Page {
    pub page: Resp,
    pub cookie: String,
}

pub async fn page(ts: &TestServer, client: &TestClient) -> Page {
    let (_, challenge) = pkce();
    let page = ts.authorize(client, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    Page { page, cookie }
}

/// Posts the sign-in form from `addr` (the test trusts its own loopback proxy).
pub async fn sign_in_from(
    ts: &TestServer,
    p: &Page,
    addr: &str,
    user: &str,
    password: &str,
) -> Resp {
    let request = p.page.hidden("request");
    let csrf = p.page.hidden("csrf");
    ts.http
        .post_form(
            &ts.url("/oauth/authorize/sign-in"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("username", user),
                ("password", password),
            ],
            &[("cookie", &p.cookie), ("x-forwarded-for", addr)],
        )
        .await
}

/// The default throttle rules with `tweak` applied.
pub fn rules(tweak: impl FnOnce(&mut ThrottleRules)) -> ThrottleRules {
    let mut r = ThrottleRules::default();
    tweak(&mut r);
    r
}

/// A server on `store` that trusts 127.0.0.1 as its proxy and applies `r`.
pub async fn server(
    store: std::sync::Arc<dyn widgetry_authz::AuthzStore>,
    r: ThrottleRules,
) -> TestServer {
    start_with(store, move |c| {
        c.trusted_proxies = widgetry_authz::TrustedProxies::parse("127.0.0.1").unwrap();
        c.sign_in_throttle = r;
    })
    .await
}
