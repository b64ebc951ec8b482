//! TLS for PostgreSQL: the `sslmode` and `sslrootcert` options of the URL, and a
//! tokio-postgres connector on rustls (no OpenSSL).
//!
//! | `sslmode` | TLS | server certificate |
//! | --- | --- | --- |
//! | absent or `disable` | never | – |
//! | `prefer` | when the server offers it | verified as for `verify-full` |
//! | `require`, `verify-full` | always | chain to a trusted CA, and names the host |
//! | `verify-ca` | always | chain to a trusted CA, any host name |
//!
//! Unlike libpq, `require` and `prefer` verify the certificate in full: asking for TLS
//! and accepting any certificate would protect against nobody. Trusted CAs are Mozilla's
//! roots, or only those of the PEM file `sslrootcert` names.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Socket;

use crate::tls::{client_config, Roots, Verify};
use crate::url_options::UrlOptions;
use crate::StoreResult;

/// The URL options this module reads.
pub(crate) const OPTIONS: [&str; 2] = ["sslmode", "sslrootcert"];

/// The TLS part of a PostgreSQL configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgTls {
    /// `Disable`, `Prefer` or `Require`, as tokio-postgres reads it.
    pub(crate) mode: SslMode,
    pub(crate) verify: Verify,
    pub(crate) roots: Roots,
}

impl PgTls {
    /// Reads `sslmode` and `sslrootcert`; `None` when TLS is off.
    pub(crate) fn from_options(o: &UrlOptions) -> StoreResult<Option<Self>> {
        let modes = ["disable", "prefer", "require", "verify-ca", "verify-full"];
        let roots = match o.get("sslrootcert") {
            Some(path) => Roots::File(path.into()),
            None => Roots::Public,
        };
        let (mode, verify) = match o.choice("sslmode", &modes)? {
            None | Some("disable") => return Ok(None),
            Some("prefer") => (SslMode::Prefer, Verify::Full),
            Some("verify-ca") => (SslMode::Require, Verify::CaOnly),
            _ => (SslMode::Require, Verify::Full),
        };
        Ok(Some(Self {
            mode,
            verify,
            roots,
        }))
    }

    /// The connector, with the CA file read now so that a bad one fails at start-up.
    pub(crate) fn connector(&self) -> StoreResult<RustlsConnect> {
        Ok(RustlsConnect(client_config(&self.roots, self.verify)?))
    }
}

/// Makes a rustls connector per connection, for the host being connected to.
#[derive(Clone)]
pub(crate) struct RustlsConnect(Arc<ClientConfig>);

impl MakeTlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnector;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnector, Self::Error> {
        Ok(RustlsConnector {
            config: self.0.clone(),
            name: ServerName::try_from(domain.to_owned())?,
        })
    }
}

/// The TLS handshake of one connection.
pub(crate) struct RustlsConnector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

type Handshake = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

impl TlsConnect<Socket> for RustlsConnector {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, stream: Socket) -> Handshake {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
        })
    }
}

/// A PostgreSQL connection inside TLS.
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    /// No channel binding: SCRAM then authenticates without `-PLUS`, which the server
    /// accepts; the certificate check is what stops a man in the middle.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
