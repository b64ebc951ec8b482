//! The local host page at `/_widgetry/host`: a development MCP Apps / ChatGPT Apps host
//! served by the app itself. Pick a tool, fill its input from a form generated from its
//! `inputSchema`, run it, and see its widget render in a sandboxed iframe (with the widget's
//! declared CSP) through either bridge (`window.openai` or the MCP Apps postMessage
//! bridge), with theme, display mode, locale and max-height controls. A tool that needs
//! sign-in opens the real OAuth 2.1 flow (RFC 9728 → RFC 8414 → RFC 7591 → PKCE S256)
//! against the configured authorization server, the way ChatGPT's account linking does.
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
//! | `GET /_widgetry/host/host.js`, `/_widgetry/host/host.css` | its script and styles |
//! | `GET /_widgetry/host/callback` | the OAuth redirect URI: hands `code` + `state` back to the page |

use std::sync::Arc;

use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue};

use super::widget::{Csp, WidgetBuild};
use crate::server::Server;
use crate::HttpConfig;

/// Where the page lives.
pub(crate) const BASE: &str = "/_widgetry/host";

const PAGE: &str = include_str!("../../host/host.html");
const SCRIPT: &str = include_str!("../../host/host.js");
const STYLE: &str = include_str!("../../host/host.css");

/// The redirect URI page: `host.js` sees the path and hands the authorization response
/// back to the page that started the sign-in (BroadcastChannel / `window.opener`).
const CALLBACK: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Signing in…</title>
  <link rel="stylesheet" href="/_widgetry/host/host.css">
  <script src="/_widgetry/host/host.js" defer></script>
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

/// The page's routes. `widgets` feed its Content-Security-Policy: a `srcdoc` iframe
/// inherits the policy of the page that embeds it, so the page must allow what its widgets
/// declare (each widget additionally gets its own, narrower policy in a `<meta>` tag).
pub(crate) fn router(http: &HttpConfig, server: &Server, widgets: &[Arc<WidgetBuild>]) -> Router {
    let issuer = server.auth().map(|a| a.config().issuer.clone());
    let page_csp = page_policy(widgets.iter().map(|w| &w.spec.csp), issuer.as_deref());
    routes(&http.path, &page_csp, widgets.to_vec())
}

/// The host page for an MCP endpoint that this process forwards rather than serves (what
/// `widgetry host --url` puts in front of its local proxy): the page speaks MCP to
/// `mcp_path` on its own origin, and `widget_csp` (the policies the target's widgets
/// declare) feeds the page's Content-Security-Policy, which the widget frames inherit.
/// The page signs in through nothing itself: the proxy behind `mcp_path` does.
///
/// ```
/// let page = widgetry::app::host_page("/mcp", &[widgetry::app::Csp::default()]);
/// # let _ = page;
/// ```
pub fn host_page(mcp_path: &str, widget_csp: &[Csp]) -> Router {
    routes(mcp_path, &page_policy(widget_csp, None), Vec::new())
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
            &format!("{BASE}/host.js"),
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
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

/// The page's policy: itself, plus what its widgets (rendered in inheriting `srcdoc`
/// frames) declare, plus the authorization server it signs in against.
pub(crate) fn page_policy<'a>(
    widgets: impl IntoIterator<Item = &'a Csp>,
    issuer: Option<&str>,
) -> String {
    let mut connect: Vec<String> = vec!["'self'".into()];
    let mut resources: Vec<String> = vec!["'self'".into()];
    let mut frames: Vec<String> = vec!["'self'".into()];
    let mut bases: Vec<String> = vec!["'self'".into()];
    let add = |list: &mut Vec<String>, s: &str| {
        let s = s.trim().trim_end_matches('/');
        if source_ok(s) && !list.iter().any(|x| x == s) {
            list.push(s.to_string());
        }
    };
    if let Some(o) = issuer.and_then(origin_of) {
        add(&mut connect, &o);
    }
    for c in widgets {
        for d in &c.connect_domains {
            add(&mut connect, d);
        }
        for d in &c.resource_domains {
            add(&mut resources, d);
        }
        for d in &c.frame_domains {
            add(&mut frames, d);
        }
        for d in &c.base_uri_domains {
            add(&mut bases, d);
        }
    }
    let res = resources.join(" ");
    [
        "default-src 'self'".to_string(),
        // Widgets are inlined documents in srcdoc frames, which inherit this policy.
        format!("script-src {res} 'unsafe-inline'"),
        format!("style-src {res} 'unsafe-inline'"),
        format!("img-src {res} data: blob:"),
        format!("font-src {res} data:"),
        format!("media-src {res} data: blob:"),
        format!("connect-src {}", connect.join(" ")),
        format!("frame-src {}", frames.join(" ")),
        format!("base-uri {}", bases.join(" ")),
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
    use crate::app::widget::Widget;

    fn build(spec: Widget) -> Arc<WidgetBuild> {
        Arc::new(WidgetBuild::new(
            spec,
            "<!doctype html><html><head></head><body></body></html>".into(),
            None,
            false,
        ))
    }

    #[test]
    fn page_policy_covers_widget_domains_and_the_issuer() {
        let w = build(
            Widget::new("a")
                .connect_domain("https://api.example.com/")
                .resource_domain("https://cdn.example.com")
                .frame_domain("https://embed.example.com")
                .connect_domain("bad; script-src *"),
        );
        let p = page_policy([&w.spec.csp], Some("https://auth.example.com/tenant/"));
        assert!(
            p.contains("connect-src 'self' https://auth.example.com https://api.example.com;"),
            "{p}"
        );
        assert!(
            p.contains("script-src 'self' https://cdn.example.com 'unsafe-inline'"),
            "{p}"
        );
        assert!(
            p.contains("frame-src 'self' https://embed.example.com;"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        assert!(!p.contains("bad"), "{p}");
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
        assert!(PAGE.contains("/_widgetry/host/host.js"));
        assert!(SCRIPT.contains("/_widgetry/host"));
        assert!(!STYLE.is_empty());
    }
}
