//! The server-rendered pages: sign-in, second factor, consent and errors. Plain HTML
//! forms with no script, light and dark themes (`prefers-color-scheme`), labelled fields,
//! autofocus on the first thing to do, and a visible focus ring.

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #f5f6f8; --card: #ffffff; --text: #16181d; --muted: #5b6270;
  --border: #d5d9e0; --accent: #2f5fd0; --accent-text: #ffffff; --danger-bg: #fdecec; --danger: #a32121;
  --focus: #1a73e8; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #101216; --card: #1a1d23; --text: #e8eaee; --muted: #a1a8b5; --border: #343a45;
    --accent: #7aa2ff; --accent-text: #0b1020; --danger-bg: #3a1818; --danger: #ffb4b4; --focus: #9fc0ff; }
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { width: 100%; max-width: 26rem; margin: 1.5rem; padding: 2rem; background: var(--card);
  border: 1px solid var(--border); border-radius: 12px; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
p { margin: .5rem 0; }
.muted { color: var(--muted); font-size: .925rem; }
label { display: block; font-weight: 600; margin: 1rem 0 .35rem; }
input[type=text], input[type=password] { width: 100%; padding: .6rem .75rem; font: inherit; color: var(--text);
  background: var(--bg); border: 1px solid var(--border); border-radius: 8px; }
button { font: inherit; font-weight: 600; padding: .6rem 1.1rem; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--border); background: transparent; color: var(--text); }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; flex-wrap: wrap; }
.actions button.primary { flex: 1; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.error { background: var(--danger-bg); color: var(--danger); padding: .6rem .8rem; border-radius: 8px; margin: 1rem 0 0; }
ul.scopes { padding-left: 1.2rem; margin: .5rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; word-break: break-all; }
"#;

fn layout(site: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{} · {}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        esc(title),
        esc(site)
    )
}

fn error_block(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default()
}

fn hidden(request: &str, csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(request),
        esc(csrf)
    )
}

/// What the sign-in page shows.
pub(crate) struct SignInView<'a> {
    pub site: &'a str,
    pub action: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

pub(crate) fn sign_in(v: &SignInView<'_>) -> String {
    let described = if v.error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    let (user_focus, pass_focus) = if v.username.is_empty() {
        (" autofocus", "")
    } else {
        ("", " autofocus")
    };
    let body = format!(
        "<h1>Sign in</h1>\
         <p class=\"muted\">to continue to <strong>{client}</strong></p>\
         {error}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" \
          autocapitalize=\"none\" spellcheck=\"false\" required{user_focus}{described}>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required{pass_focus}>\
         <div class=\"actions\"><button type=\"submit\" class=\"primary\">Sign in</button></div>\
         </form>",
        client = esc(v.client_name),
        error = error_block(v.error),
        action = esc(v.action),
        hidden = hidden(v.request, v.csrf),
        username = esc(v.username),
    );
    layout(v.site, "Sign in", &body)
}

/// What the second-factor page shows.
pub(crate) struct SecondFactorView<'a> {
    pub site: &'a str,
    pub action: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

pub(crate) fn second_factor(v: &SecondFactorView<'_>) -> String {
    let body = format!(
        "<h1>Two-step verification</h1>\
         <p class=\"muted\">Enter the 6-digit code from your authenticator app.</p>\
         {error}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <label for=\"code\">Verification code</label>\
         <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" \
          autocomplete=\"one-time-code\" required autofocus>\
         <div class=\"actions\"><button type=\"submit\" class=\"primary\">Verify</button></div>\
         </form>",
        error = error_block(v.error),
        action = esc(v.action),
        hidden = hidden(v.request, v.csrf),
    );
    layout(v.site, "Two-step verification", &body)
}

/// What the consent page shows.
pub(crate) struct ConsentView<'a> {
    pub site: &'a str,
    pub action: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    /// Where the client is identified from (its metadata document's host), if known.
    pub client_origin: Option<&'a str>,
    pub user_name: &'a str,
    pub scopes: &'a [String],
    pub resource: &'a str,
    pub redirect_host: &'a str,
}

pub(crate) fn consent(v: &ConsentView<'_>) -> String {
    let scopes = if v.scopes.is_empty() {
        "<p>It asks for basic access only (no specific permissions).</p>".to_owned()
    } else {
        let items: String = v
            .scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", esc(s)))
            .collect();
        format!("<p>It asks for these permissions:</p><ul class=\"scopes\">{items}</ul>")
    };
    let origin = v
        .client_origin
        .map(|o| format!(" <span class=\"muted\">({})</span>", esc(o)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Allow access?</h1>\
         <p><strong>{client}</strong>{origin} wants to use <code>{resource}</code> as \
          <strong>{user}</strong>.</p>\
         {scopes}\
         <p class=\"muted\">If you allow, you will be sent back to <strong>{redirect}</strong>.</p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\" autofocus>Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </div></form>",
        client = esc(v.client_name),
        resource = esc(v.resource),
        user = esc(v.user_name),
        redirect = esc(v.redirect_host),
        action = esc(v.action),
        hidden = hidden(v.request, v.csrf),
    );
    layout(v.site, "Allow access", &body)
}

pub(crate) fn error(site: &str, title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1><p role=\"alert\">{}</p>\
         <p class=\"muted\">Return to the application and try connecting again.</p>",
        esc(title),
        esc(message)
    );
    layout(site, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = error("W", "<b>", "<script>");
        assert!(!page.contains("<script>"));
    }
}
