//! TLS for the server backends, with rustls and the ring provider (no OpenSSL): which
//! certificate authorities to trust (Mozilla's roots, or the PEM file a store URL names)
//! and how much of the server's certificate to check.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::{StoreError, StoreResult};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// A chain to a trusted authority, valid now, naming the host connected to.
    Full,
    /// A chain to a trusted authority, valid now, whatever host it names (`verify-ca`).
    CaOnly,
}

/// The authorities a TLS connection trusts.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// Mozilla's root set (the `webpki-roots` crate), as for any public service.
    Public,
    /// Only the certificates of this PEM file (a private CA, a managed service's bundle).
    File(PathBuf),
}

impl fmt::Debug for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Public => f.write_str("public roots"),
            Roots::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Roots {
    /// The PEM bytes of the file, checked to hold at least one certificate.
    pub(crate) fn pem(path: &Path) -> StoreResult<Vec<u8>> {
        let bytes = std::fs::read(path).map_err(|e| {
            StoreError::InvalidConfig(format!(
                "cannot read the CA certificate file {}: {e}",
                path.display()
            ))
        })?;
        let certs = certificates(path, &bytes)?;
        if certs.is_empty() {
            return Err(StoreError::InvalidConfig(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(bytes)
    }

    fn store(&self) -> StoreResult<RootCertStore> {
        match self {
            Roots::Public => Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            Roots::File(path) => {
                let bytes = Self::pem(path)?;
                let mut store = RootCertStore::empty();
                for cert in certificates(path, &bytes)? {
                    store.add(cert).map_err(|e| {
                        StoreError::InvalidConfig(format!(
                            "{} holds a certificate that cannot be a trust anchor: {e}",
                            path.display()
                        ))
                    })?;
                }
                Ok(store)
            }
        }
    }
}

fn certificates(path: &Path, pem: &[u8]) -> StoreResult<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            StoreError::InvalidConfig(format!(
                "{} is not a PEM certificate file: {e}",
                path.display()
            ))
        })
}

/// A rustls client configuration trusting `roots` and checking `verify`.
pub(crate) fn client_config(roots: &Roots, verify: Verify) -> StoreResult<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let store = Arc::new(roots.store()?);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::InvalidConfig(format!("TLS set-up failed: {e}")))?;
    let config = match verify {
        Verify::Full => builder.with_root_certificates(store).with_no_client_auth(),
        Verify::CaOnly => {
            let inner = WebPkiServerVerifier::builder_with_provider(store, provider)
                .build()
                .map_err(|e| StoreError::InvalidConfig(format!("TLS set-up failed: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// The WebPKI verifier without its last step, the host-name check: the chain, validity
/// dates and signatures are checked as for [`Verify::Full`].
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the name only after the chain verified, so a name error means the
        // chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
