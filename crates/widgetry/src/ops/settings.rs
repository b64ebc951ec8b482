//! [`Settings`]: the deployment configuration of an app, read once from the environment
//! (or any variable source) and checked before anything starts. Every variable is in
//! the README's configuration table.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;
use widgetry_authz::{ForwardedHeader, Sealer, TrustedProxies};

use widgetry_store::{KvStore, StoreConfig, Stores};

use super::metrics::Measured;

use crate::auth::widget_keys::{WidgetKeyError, WidgetKeys};
use crate::server::UiClients;
use crate::transport::HttpConfig;

/// A variable that cannot be used: which one, its value, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct SettingsError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        var,
        message: message.into(),
    }
}

/// How an app is deployed: where it listens, how it is reached, whom it believes, where
/// its data and keys are. Build it with [`Settings::from_env`] (or
/// [`Settings::from_vars`] in tests), then hand it to
/// [`AppBuilder::settings`](crate::app::AppBuilder::settings) and
/// [`App::serve_with`](crate::App::serve_with).
///
/// ```
/// use widgetry::ops::Settings;
/// let vars = [
///     ("WIDGETRY_BIND", "0.0.0.0"),
///     ("PORT", "9000"),
///     ("WIDGETRY_PUBLIC_URL", "https://app.example.com/"),
///     ("WIDGETRY_TRUSTED_PROXIES", "10.0.0.0/8"),
/// ];
/// let s = Settings::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
/// assert_eq!(s.bind.to_string(), "0.0.0.0:9000");
/// assert_eq!(s.public_url.as_deref(), Some("https://app.example.com"));
/// assert!(Settings::from_vars(|k| (k == "PORT").then(|| "http".into())).is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Where to listen (`WIDGETRY_BIND` and `PORT`; default `127.0.0.1:8000`: only this
    /// machine. Set `WIDGETRY_BIND=0.0.0.0` in a container).
    pub bind: SocketAddr,
    /// The origin users and hosts reach the app at (`WIDGETRY_PUBLIC_URL`, e.g.
    /// `https://app.example.com`): the issuer, resource and audience of tokens, the
    /// widget CSP and action endpoints. `None`: `RESOURCE_SERVER_URL`'s origin, else the
    /// local address.
    pub public_url: Option<String>,
    /// Reverse proxies believed about the client (`WIDGETRY_TRUSTED_PROXIES`, and
    /// `WIDGETRY_FORWARDED_HEADER=forwarded` for RFC 7239).
    pub trusted_proxies: TrustedProxies,
    /// Local data (`WIDGETRY_DATA_DIR`, default `.widgetry`).
    pub data_dir: PathBuf,
    /// The app's stores (`WIDGETRY_DATABASE_URL`, `WIDGETRY_SESSION_STORE_URL`).
    pub stores: StoreConfig,
    /// The secret sealing private keys at rest (`WIDGETRY_KEY_ENCRYPTION_KEY`, 32+
    /// characters).
    pub key_encryption_key: Option<String>,
    /// Widget-token keys from configuration (`WIDGETRY_WIDGET_TOKEN_KEYS`); `None`: the
    /// key in the shared store ([`Settings::widget_keys`]).
    pub widget_token_keys: Option<WidgetKeys>,
    /// Who may read `/metrics` directly (`WIDGETRY_METRICS_ALLOW`, CIDR list; default
    /// loopback). Requests relayed by a trusted proxy are never answered.
    pub metrics_allow: TrustedProxies,
    /// How long a stopping instance waits for requests and streams to end
    /// (`WIDGETRY_SHUTDOWN_GRACE_SECS`, default 10).
    pub shutdown_grace: Duration,
    /// Which clients get tools with UI metadata (`WIDGETRY_UI_CLIENTS`: `declared`, the
    /// default, or `all`; see [`UiClients`]).
    pub ui_clients: UiClients,
}

/// Reads a variable, treating empty as unset.
fn get(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Settings {
    /// Reads the process environment (see [`Settings::from_vars`]).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `var`; every problem names its variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var: &dyn Fn(&str) -> Option<String> = &var;
        let port = match get(var, "PORT") {
            None => 8000,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad("PORT", format!("{p:?} is not a port number (0-65535)")))?,
        };
        let ip = match get(var, "WIDGETRY_BIND") {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(b) => b
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| {
                    bad(
                        "WIDGETRY_BIND",
                        format!("{b:?} is not an IP address (127.0.0.1, 0.0.0.0, ::)"),
                    )
                })?,
        };
        let public_url = get(var, "WIDGETRY_PUBLIC_URL")
            .map(|u| public_origin("WIDGETRY_PUBLIC_URL", &u))
            .transpose()?
            .or(get(var, "RESOURCE_SERVER_URL")
                .map(|u| public_origin("RESOURCE_SERVER_URL", &origin_of(&u)))
                .transpose()?);
        let header = match get(var, "WIDGETRY_FORWARDED_HEADER").as_deref() {
            None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
            Some("forwarded") => ForwardedHeader::Forwarded,
            Some(o) => {
                return Err(bad(
                    "WIDGETRY_FORWARDED_HEADER",
                    format!("{o:?}: expected x-forwarded-for or forwarded"),
                ))
            }
        };
        let trusted_proxies =
            TrustedProxies::parse(&get(var, "WIDGETRY_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| bad("WIDGETRY_TRUSTED_PROXIES", e.to_string()))?
                .with_header(header);
        let metrics_allow = TrustedProxies::parse(
            &get(var, "WIDGETRY_METRICS_ALLOW").unwrap_or_else(|| "127.0.0.0/8, ::1".into()),
        )
        .map_err(|e| bad("WIDGETRY_METRICS_ALLOW", e.to_string()))?;
        let data_dir = PathBuf::from(get(var, "WIDGETRY_DATA_DIR").unwrap_or(".widgetry".into()));
        let stores = StoreConfig::from_values(
            get(var, "WIDGETRY_DATABASE_URL").as_deref(),
            get(var, "WIDGETRY_SESSION_STORE_URL").as_deref(),
            &data_dir,
        )
        .map_err(|e| {
            bad(
                "WIDGETRY_DATABASE_URL / WIDGETRY_SESSION_STORE_URL",
                e.to_string(),
            )
        })?;
        let key_encryption_key = get(var, "WIDGETRY_KEY_ENCRYPTION_KEY");
        if let Some(k) = &key_encryption_key {
            Sealer::new(Some(k)).map_err(|e| bad("WIDGETRY_KEY_ENCRYPTION_KEY", e.to_string()))?;
        }
        let widget_token_keys = get(var, "WIDGETRY_WIDGET_TOKEN_KEYS")
            .map(|k| WidgetKeys::parse(&k))
            .transpose()
            .map_err(|e| bad("WIDGETRY_WIDGET_TOKEN_KEYS", e.to_string()))?;
        let shutdown_grace = match get(var, "WIDGETRY_SHUTDOWN_GRACE_SECS") {
            None => Duration::from_secs(10),
            Some(s) => Duration::from_secs(s.parse().map_err(|_| {
                bad(
                    "WIDGETRY_SHUTDOWN_GRACE_SECS",
                    format!("{s:?} is not a number of seconds"),
                )
            })?),
        };
        let ui_clients = match get(var, "WIDGETRY_UI_CLIENTS") {
            None => UiClients::default(),
            Some(v) => UiClients::parse(&v).ok_or_else(|| {
                bad(
                    "WIDGETRY_UI_CLIENTS",
                    format!("{v:?}: expected declared or all"),
                )
            })?,
        };
        Ok(Self {
            bind: SocketAddr::new(ip, port),
            public_url,
            trusted_proxies,
            data_dir,
            stores,
            key_encryption_key,
            widget_token_keys,
            metrics_allow,
            shutdown_grace,
            ui_clients,
        })
    }

    /// The public origin, or `http://<bound address>` when none is configured.
    pub fn public_origin(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// `http` with these settings' trusted proxies, and their public host and origin
    /// allowed by the DNS-rebinding guard.
    pub fn apply_http(&self, http: HttpConfig) -> HttpConfig {
        let mut c = http.trusted_proxies(self.trusted_proxies.clone());
        if let Some(url) = &self.public_url {
            let authority = url.split_once("://").map(|(_, a)| a).unwrap_or(url);
            c = c
                .allow_host(crate::transport::guard::host_name(authority))
                .allow_origin(url);
        }
        c
    }

    /// Opens the app's stores, each wrapped to report its latency and errors in the
    /// metrics.
    pub async fn open_stores(&self) -> Result<Stores, widgetry_store::StoreError> {
        let opened = self.stores.open().await?;
        Ok(Stores {
            sessions: Arc::new(Measured::new("sessions", opened.sessions)),
            kv: Arc::new(Measured::new("kv", opened.kv)),
        })
    }

    /// The sealer of secrets at rest (plain without a key-encryption key).
    pub fn sealer(&self) -> Result<Sealer, SettingsError> {
        Sealer::new(self.key_encryption_key.as_deref())
            .map_err(|e| bad("WIDGETRY_KEY_ENCRYPTION_KEY", e.to_string()))
    }

    /// The widget-token keys: the configured ones, else the one in the shared store `kv`
    /// (created by the first instance).
    pub async fn widget_keys(&self, kv: &dyn KvStore) -> Result<WidgetKeys, WidgetKeyError> {
        match &self.widget_token_keys {
            Some(k) => Ok(k.clone()),
            None => {
                let sealer = self
                    .sealer()
                    .map_err(|e| WidgetKeyError::Store(e.to_string()))?;
                WidgetKeys::shared(kv, &sealer).await
            }
        }
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> String {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(p) => url[..after + p].to_string(),
        None => url.to_string(),
    }
}

/// Checks a public origin: `https://host[:port]` (or `http` on a loopback host), no path.
fn public_origin(var: &'static str, url: &str) -> Result<String, SettingsError> {
    let u = url.trim_end_matches('/');
    let Some((scheme, authority)) = u.split_once("://") else {
        return Err(bad(
            var,
            format!("{url:?} is not a URL like https://app.example.com"),
        ));
    };
    let host = crate::transport::guard::host_name(authority);
    let ok_scheme =
        scheme == "https" || (scheme == "http" && crate::transport::guard::is_loopback_host(host));
    if !ok_scheme {
        return Err(bad(
            var,
            format!("{url:?} must be https (http only on 127.0.0.1, [::1] or localhost)"),
        ));
    }
    if authority.is_empty() || host.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            var,
            format!("{url:?} must be an origin (scheme and host, optional port; no path, query or user)"),
        ));
    }
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_vars(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let s = from(&[]).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(s.public_url, None);
        assert!(s.trusted_proxies.is_empty());
        assert!(s.metrics_allow.contains("127.0.0.1".parse().unwrap()));
        assert!(!s.metrics_allow.contains("10.0.0.1".parse().unwrap()));
        assert_eq!(s.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        for (var, value) in [
            ("PORT", "80000"),
            ("WIDGETRY_BIND", "example.com"),
            ("WIDGETRY_PUBLIC_URL", "http://app.example.com"),
            ("WIDGETRY_PUBLIC_URL", "https://app.example.com/mcp"),
            ("WIDGETRY_PUBLIC_URL", "app.example.com"),
            ("RESOURCE_SERVER_URL", "ftp://x/mcp"),
            ("WIDGETRY_TRUSTED_PROXIES", "10.0.0.0/8, proxy"),
            ("WIDGETRY_FORWARDED_HEADER", "x-real-ip"),
            ("WIDGETRY_METRICS_ALLOW", "everyone"),
            ("WIDGETRY_KEY_ENCRYPTION_KEY", "short"),
            ("WIDGETRY_WIDGET_TOKEN_KEYS", "not-a-key"),
            ("WIDGETRY_SHUTDOWN_GRACE_SECS", "soon"),
            ("WIDGETRY_DATABASE_URL", "mysql://db"),
        ] {
            let e = from(&[(var, value)]).unwrap_err();
            assert!(e.var.contains(var), "{var}={value}: {e}");
        }
    }

    #[test]
    fn the_public_url_comes_from_the_resource_when_not_set() {
        let s = from(&[("RESOURCE_SERVER_URL", "https://app.example.com/mcp")]).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://app.example.com"));
        let s = from(&[
            ("RESOURCE_SERVER_URL", "https://app.example.com/mcp"),
            ("WIDGETRY_PUBLIC_URL", "https://public.example.com:8443"),
            ("WIDGETRY_BIND", "::"),
        ])
        .unwrap();
        assert_eq!(
            s.public_url.as_deref(),
            Some("https://public.example.com:8443")
        );
        assert_eq!(s.bind.to_string(), "[::]:8000");
        let h = s.apply_http(HttpConfig::default());
        assert!(h
            .guard
            .check(&{
                let mut m = http::HeaderMap::new();
                m.insert("host", "public.example.com:8443".parse().unwrap());
                m.insert("origin", "https://public.example.com:8443".parse().unwrap());
                m
            })
            .is_ok());
    }
}
