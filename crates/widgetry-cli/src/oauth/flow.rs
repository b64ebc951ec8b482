//! The authorization-code leg of sign-in: PKCE (S256) and `state`, the loopback
//! redirect listener (`http://127.0.0.1:PORT/callback`, RFC 8252 §7.3), the browser
//! (or a printed URL), and a headless variant that follows the authorization server's
//! redirects itself (for servers that approve without a page, such as the conformance
//! suite's mock).

use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::AuthError;
use crate::http::{HttpClient, HttpUrl, Request};

/// How the user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMode {
    /// Open the browser (when one can be opened) and print the URL.
    Browser,
    /// Only print the URL; the user opens it.
    PrintUrl,
    /// No user: GET the authorization URL and follow redirects to the callback.
    Headless,
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| AuthError::Authorization(format!("no randomness available: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
pub struct Pkce {
    /// `code_verifier` (43 characters).
    pub verifier: String,
    /// `code_challenge` = BASE64URL(SHA256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Result<Self, AuthError> {
        let verifier = random_token(32)?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        Ok(Self {
            verifier,
            challenge,
        })
    }
}

/// What came back on the redirect.
#[derive(Debug)]
pub struct AuthorizationResponse {
    /// `code`.
    pub code: String,
    /// `iss` (RFC 9207), when sent.
    pub iss: Option<String>,
}

/// The loopback listener that receives the redirect.
pub struct CallbackListener {
    listener: TcpListener,
    port: u16,
}

impl CallbackListener {
    /// Binds `127.0.0.1:port` (0: any free port).
    pub async fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Serves until a callback carrying `state` arrives; returns its query parameters.
    /// Callbacks with another `state` are answered with an error page and ignored.
    async fn wait(
        self,
        state: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, AuthError> {
        let (tx, mut rx) = mpsc::channel::<Vec<(String, String)>>(4);
        let expected = state.to_string();
        let accept = async {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    continue;
                };
                let tx = tx.clone();
                let expected = expected.clone();
                tokio::spawn(async move {
                    let _ = serve_callback(stream, &expected, &tx).await;
                });
            }
        };
        tokio::select! {
            params = rx.recv() => params.ok_or_else(|| AuthError::Authorization("the callback listener stopped".into())),
            _ = accept => Err(AuthError::Authorization("the callback listener stopped".into())),
            _ = tokio::time::sleep(timeout) => Err(AuthError::Authorization(format!(
                "no sign-in came back within {} s", timeout.as_secs()
            ))),
        }
    }
}

/// Answers one connection to the loopback listener.
async fn serve_callback(
    mut stream: TcpStream,
    expected_state: &str,
    tx: &mpsc::Sender<Vec<(String, String)>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .is_err()
    {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|line| {
            let mut parts = line.split(' ');
            (parts.next() == Some("GET"))
                .then(|| parts.next())
                .flatten()
        })
        .unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, page) = if path != "/callback" {
        (
            "404 Not Found",
            page("Not found", "This is widgetry's sign-in callback."),
        )
    } else {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let state = params
            .iter()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.as_str());
        if state != Some(expected_state) {
            eprintln!("widgetry: ignored a sign-in callback with an unexpected state");
            (
                "400 Bad Request",
                page(
                    "Sign-in not accepted",
                    "This answer does not belong to the sign-in widgetry is waiting for.",
                ),
            )
        } else {
            let error = params
                .iter()
                .find(|(k, _)| k == "error")
                .map(|(_, v)| v.clone());
            let _ = tx.send(params).await;
            match error {
                Some(e) => (
                    "200 OK",
                    page(
                        "Sign-in failed",
                        &format!("The authorization server answered: {e}. Return to the terminal."),
                    ),
                ),
                None => (
                    "200 OK",
                    page(
                        "Signed in",
                        "You can close this tab and return to the terminal.",
                    ),
                ),
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn page(title: &str, text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32em;margin:4em auto\">\
         <h1>{t}</h1><p>{x}</p></body></html>",
        t = esc(title),
        x = esc(text)
    )
}

/// Runs the front-channel part of the flow and returns the code, after checking
/// `state` and the error parameters.
pub async fn authorize(
    mode: SignInMode,
    http: &HttpClient,
    authorization_url: &HttpUrl,
    listener: CallbackListener,
    state: &str,
    timeout: Duration,
    sign_in_timeout: Duration,
) -> Result<AuthorizationResponse, AuthError> {
    let params = match mode {
        SignInMode::Headless => {
            let redirect = HttpUrl::parse(&listener.redirect_uri())?;
            follow_to_callback(http, authorization_url, &redirect, timeout).await?
        }
        SignInMode::Browser | SignInMode::PrintUrl => {
            let opened =
                mode == SignInMode::Browser && crate::browser::open(&authorization_url.to_string());
            eprintln!(
                "{} sign in at:\n\n  {authorization_url}\n\nWaiting for the sign-in to finish (Ctrl-C to cancel)…",
                if opened { "Opened your browser to" } else { "Open this URL in a browser to" }
            );
            listener.wait(state, sign_in_timeout).await?
        }
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("state").as_deref() != Some(state) {
        return Err(AuthError::Authorization(
            "the authorization server sent back another state than the one widgetry sent (possible CSRF); \
             refusing the answer"
                .into(),
        ));
    }
    if let Some(error) = get("error") {
        let detail = get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(AuthError::Authorization(format!(
            "the authorization server refused: {error}{detail}"
        )));
    }
    let code = get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AuthError::Authorization("the redirect carries no code".into()))?;
    Ok(AuthorizationResponse {
        code,
        iss: get("iss"),
    })
}

/// GETs the authorization URL and follows redirects (at most 10) until one points at
/// the callback; returns that redirect's query parameters.
async fn follow_to_callback(
    http: &HttpClient,
    start: &HttpUrl,
    callback: &HttpUrl,
    timeout: Duration,
) -> Result<Vec<(String, String)>, AuthError> {
    let mut url = start.clone();
    for _ in 0..10 {
        let resp = http.send(Request::get(&url), timeout).await?;
        let status = resp.status;
        let location = resp.header("location").map(str::to_string);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            let detail = resp.text_snippet(200).await;
            return Err(AuthError::Authorization(format!(
                "headless sign-in: {url} answered HTTP {} instead of redirecting back{}; \
                 this authorization server needs a person (run without headless mode)",
                status.as_u16(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            )));
        };
        let next = url.join(&location)?;
        if next.same_endpoint(callback) {
            return Ok(next.query_pairs());
        }
        url = next;
    }
    Err(AuthError::Authorization(
        "headless sign-in: too many redirects".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_base64url_sha256_of_the_verifier() {
        let p = Pkce::new().unwrap();
        assert_eq!(p.verifier.len(), 43);
        let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(p.verifier.as_bytes()));
        assert_eq!(p.challenge, expect);
        assert!(!p.challenge.contains(['+', '/', '=']));
    }
}
