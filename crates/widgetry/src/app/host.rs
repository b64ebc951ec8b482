//! The local host page at `/_widgetry/host`: a development MCP Apps host served by the app
//! itself, which behaves like the real hosts (profiles ChatGPT, Claude and generic; see
//! `docs/hosts.md`). Pick a tool, fill its input from a form generated from its
//! `inputSchema`, run it, and see its widget render in a sandbox on another real origin (the
//! app under its other loopback name, `localhost` ↔ `127.0.0.1`) under the CSP the widget
//! declares as the profile applies it, through the MCP Apps bridge (and `window.openai` in
//! the ChatGPT profile); approval before tool input, streamed input, dropped `_meta`,
//! cancellation and teardown on demand. A tool that needs sign-in opens the real OAuth 2.1
//! flow (RFC 9728 → RFC 8414 → RFC 7591 → PKCE S256) against the configured authorization
//! server, the way ChatGPT's account linking does.
//!
//! On by default in development ([`AppBuilder::dev`](super::AppBuilder::dev)), off
//! otherwise; [`AppBuilder::host_page`](super::AppBuilder::host_page) or
//! `WIDGETRY_HOST_PAGE=1` turns it on. The page is static (no state on the server): it
//! speaks MCP to the app's own `/mcp` endpoint from the browser, so it sees exactly what a
//! remote host would. [`host_page`] serves the same page in front of an endpoint another
//! process answers (`widgetry host --url`, whose local proxy forwards to any MCP server).
//!
//! | route | what |
//! |---|---|
//! | `GET /_widgetry/host` | the page |
//! | `GET /_widgetry/host/<module>.js`, `/_widgetry/host/host.css` | its ES modules and styles |
//! | `GET /_widgetry/host/sandbox` | the widget sandbox (loaded from the other origin) |
//! | `GET /_widgetry/host/callback` | the OAuth redirect URI: hands `code` + `state` back to the page |

use std::sync::Arc;

use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue};

use super::widget::WidgetBuild;
use crate::server::Server;
use crate::HttpConfig;

/// Where the page lives.
pub(crate) const BASE: &str = "/_widgetry/host";

const PAGE: &str = include_str!("../../host/host.html");
const STYLE: &str = include_str!("../../host/host.css");

/// The page's ES modules, one job each (`main.js` is the entry).
const MODULES: &[(&str, &str)] = &[
    ("main.js", include_str!("../../host/main.js")),
    ("util.js", include_str!("../../host/util.js")),
    ("log.js", include_str!("../../host/log.js")),
    ("state.js", include_str!("../../host/state.js")),
    ("mcp.js", include_str!("../../host/mcp.js")),
    ("server.js", include_str!("../../host/server.js")),
    ("auth.js", include_str!("../../host/auth.js")),
    ("form.js", include_str!("../../host/form.js")),
    ("elicit.js", include_str!("../../host/elicit.js")),
    ("profiles.js", include_str!("../../host/profiles.js")),
    ("bridge.js", include_str!("../../host/bridge.js")),
    ("stage.js", include_str!("../../host/stage.js")),
    ("devserver.js", include_str!("../../host/devserver.js")),
    ("callback.js", include_str!("../../host/callback.js")),
];

/// The widget sandbox: loaded in a frame from the page's other loopback origin, it takes the
/// widget document (with its CSP `<meta>`) from the page and becomes it. Its own policy is
/// the widest a widget may get; the `<meta>` narrows it to what the widget declares.
const SANDBOX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>widget sandbox</title></head><body><script>
(function () {
  var done = false;
  var host = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/;
  function onMessage(ev) {
    if (done || ev.source !== window.parent || !host.test(ev.origin)) return;
    var m = ev.data;
    if (!m || m.type !== 'widgetry-sandbox-render' || typeof m.html !== 'string') return;
    done = true;
    window.removeEventListener('message', onMessage);
    document.open();
    document.write(m.html);
    document.close();
  }
  window.addEventListener('message', onMessage);
  window.parent.postMessage({ type: 'widgetry-sandbox-ready' }, '*');
})();
</script></body></html>
"#;

const SANDBOX_CSP: &str = "default-src 'none'; script-src 'unsafe-inline' http: https:; style-src 'unsafe-inline' http: https:; img-src http: https: data: blob:; font-src http: https: data:; media-src http: https: data: blob:; connect-src http: https: ws: wss:; frame-src http: https:; base-uri http: https:; object-src 'none'; frame-ancestors http://127.0.0.1:* http://localhost:*";

/// The redirect URI page: `callback.js` hands the authorization response
/// back to the page that started the sign-in (BroadcastChannel / `window.opener`).
const CALLBACK: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Signing in…</title>
  <link rel="stylesheet" href="/_widgetry/host/host.css">
  <script type="module" src="/_widgetry/host/callback.js"></script>
</head>
<body class="callback">
  <main class="callback-card">
    <h1>Widgetry host</h1>
    <p id="callback-status" role="status">Finishing sign-in…</p>
  </main>
</body>
</html>
"#;

/// Whether the page is served: `WIDGETRY_HOST_PAGE=1` forces it on; otherwise the
/// builder's explicit choice, else development mode.
pub(crate) fn enabled(explicit: Option<bool>, dev: bool) -> bool {
    std::env::var("WIDGETRY_HOST_PAGE").is_ok_and(|v| v.trim() == "1") || explicit.unwrap_or(dev)
}

/// The page's routes. Widgets render in the sandbox on the other loopback origin, under
/// their own policy: the page's policy covers only itself and the authorization server.
pub(crate) fn router(http: &HttpConfig, server: &Server, widgets: &[Arc<WidgetBuild>]) -> Router {
    let issuer = server.auth().map(|a| a.config().issuer.clone());
    routes(
        &http.path,
        &page_policy(issuer.as_deref()),
        widgets.to_vec(),
    )
}

/// The host page for an MCP endpoint that this process forwards rather than serves (what
/// `widgetry host --url` puts in front of its local proxy): the page speaks MCP to
/// `mcp_path` on its own origin and signs in through nothing itself (the proxy behind
/// `mcp_path` does); widgets render in its sandbox on the other loopback origin, as with
/// an app's own page.
///
/// ```
/// let page = widgetry::app::host_page("/mcp");
/// # let _ = page;
/// ```
pub fn host_page(mcp_path: &str) -> Router {
    routes(mcp_path, &page_policy(None), Vec::new())
}

fn routes(mcp_path: &str, page_csp: &str, watched: Vec<Arc<WidgetBuild>>) -> Router {
    let page: Arc<str> = PAGE.replace("{{MCP_PATH}}", &attr_escape(mcp_path)).into();
    let csp = HeaderValue::from_str(page_csp).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
    });
    let page_csp = csp.clone();
    let callback_csp = HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    Router::new()
        .route(
            &format!("{BASE}/events"),
            get(move || {
                let watched = watched.clone();
                async move { widget_events(watched) }
            }),
        )
        .route(
            BASE,
            get(move || {
                let (page, csp) = (page.clone(), page_csp.clone());
                async move { html(page.to_string(), csp) }
            }),
        )
        .route(
            &format!("{BASE}/"),
            get(|| async { Redirect::permanent(BASE) }),
        )
        .route(
            &format!("{BASE}/{{module}}"),
            get(
                |axum::extract::Path(module): axum::extract::Path<String>| async move {
                    match MODULES.iter().find(|(name, _)| *name == module) {
                        Some((_, body)) => asset("text/javascript; charset=utf-8", body),
                        None => http::StatusCode::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .route(
            &format!("{BASE}/sandbox"),
            get(|| async {
                (
                    no_store(),
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/html; charset=utf-8"),
                        ),
                        (
                            header::CONTENT_SECURITY_POLICY,
                            HeaderValue::from_static(SANDBOX_CSP),
                        ),
                    ],
                    SANDBOX,
                )
                    .into_response()
            }),
        )
        .route(
            &format!("{BASE}/host.css"),
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            &format!("{BASE}/callback"),
            get(move || {
                let csp = callback_csp.clone();
                async move { html(CALLBACK.to_string(), csp) }
            }),
        )
}

/// `GET /_widgetry/host/events`: a server-sent event `widgets-changed` whenever a widget's
/// HTML changes on disk (development reload), so open host pages re-render it.
fn widget_events(widgets: Vec<Arc<WidgetBuild>>) -> Response {
    let fingerprint = |w: &WidgetBuild| widgetry_bundle::content_hash(&w.html());
    let seen: Vec<String> = widgets.iter().map(|w| fingerprint(w)).collect();
    let state = (
        widgets,
        seen,
        tokio::time::interval(std::time::Duration::from_millis(500)),
    );
    let stream =
        futures_util::stream::unfold(state, move |(widgets, mut seen, mut tick)| async move {
            loop {
                tick.tick().await;
                let mut changed = Vec::new();
                for (i, w) in widgets.iter().enumerate() {
                    let now = fingerprint(w);
                    if now != seen[i] {
                        seen[i] = now;
                        changed.push(w.spec.name.clone());
                    }
                }
                if !changed.is_empty() {
                    let data = serde_json::json!({ "widgets": changed }).to_string();
                    let frame =
                        bytes::Bytes::from(format!("event: widgets-changed\ndata: {data}\n\n"));
                    return Some((
                        Ok::<_, std::convert::Infallible>(frame),
                        (widgets, seen, tick),
                    ));
                }
            }
        });
    let mut r = Response::new(axum::body::Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn no_store() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

fn html(body: String, csp: HeaderValue) -> Response {
    (
        no_store(),
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        body,
    )
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        no_store(),
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `scheme://host[:port]` of a URL, if it has one.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!authority.is_empty() && matches!(scheme, "http" | "https"))
        .then(|| format!("{scheme}://{authority}"))
}

/// A CSP source expression that cannot break out of its directive.
fn source_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 512
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'))
}

/// The page's policy: itself, the authorization server it signs in against, and frames
/// from the loopback origins (the widget sandbox is the app under its other name).
pub(crate) fn page_policy(issuer: Option<&str>) -> String {
    let mut connect = String::from("'self'");
    if let Some(o) = issuer.and_then(origin_of).filter(|o| source_ok(o)) {
        connect.push(' ');
        connect.push_str(&o);
    }
    [
        "default-src 'self'".to_string(),
        "script-src 'self'".to_string(),
        "style-src 'self' 'unsafe-inline'".to_string(),
        "img-src 'self' data:".to_string(),
        format!("connect-src {connect}"),
        "frame-src http://127.0.0.1:* http://localhost:*".to_string(),
        "base-uri 'none'".to_string(),
        "object-src 'none'".to_string(),
        "form-action 'self'".to_string(),
        "frame-ancestors 'none'".to_string(),
    ]
    .join("; ")
}

fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_covers_itself_the_issuer_and_the_sandbox() {
        let p = page_policy(Some("https://auth.example.com/tenant/"));
        assert!(
            p.contains("connect-src 'self' https://auth.example.com;"),
            "{p}"
        );
        assert!(p.contains("script-src 'self';"), "no inline script: {p}");
        assert!(
            p.contains("frame-src http://127.0.0.1:* http://localhost:*"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        let bad = page_policy(Some("https://x.example.com;script-src *"));
        assert!(!bad.contains("script-src *"), "{bad}");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://127.0.0.1:8000/mcp").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            origin_of("https://x.auth0.com/").as_deref(),
            Some("https://x.auth0.com")
        );
        assert_eq!(origin_of("urn:x"), None);
    }

    #[test]
    fn assets_are_wired() {
        assert!(PAGE.contains("{{MCP_PATH}}"));
        assert!(PAGE.contains("/_widgetry/host/main.js"));
        assert!(CALLBACK.contains("/_widgetry/host/callback.js"));
        assert!(!STYLE.is_empty());
        // Every module another one imports is served.
        for (name, body) in MODULES {
            for part in body.split("from './").skip(1) {
                let dep = part.split('\'').next().unwrap_or("");
                assert!(
                    MODULES.iter().any(|(n, _)| *n == dep),
                    "{name} imports {dep}, which is not served"
                );
            }
        }
    }
}
