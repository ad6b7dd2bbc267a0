//! Backend TLS: trust roots, client identity for mutual TLS, and the explicit insecure mode.
//!
//! It owns reading PEM files (once, at start) and turning them into a rustls client config on
//! the `ring` provider. It must never weaken verification unless `PROXY_TLS_INSECURE=true`
//! asked for it, and even then it still checks handshake signatures: only the certificate
//! chain and name go unchecked.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// TLS material read from the configuration files.
#[derive(Debug, Default)]
pub struct TlsSettings {
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub client_identity: Option<ClientIdentity>,
    pub insecure: bool,
}

/// A client certificate chain and its key. The key is never printed.
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientIdentity({} certificates, key redacted)",
            self.chain.len()
        )
    }
}

/// TLS material rustls refused, with the variable that supplied it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct TlsError {
    pub variable: &'static str,
    pub problem: String,
}

impl TlsError {
    pub(crate) fn new(variable: &'static str, problem: impl std::fmt::Display) -> TlsError {
        TlsError {
            variable,
            problem: problem.to_string(),
        }
    }
}

/// Reads every certificate from a PEM file; an empty or unreadable file is an error.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read PEM file: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in PEM file".to_owned());
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("no usable private key in PEM file: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSettings {
    /// Builds the client config: system roots plus the extra ones, optional client identity.
    /// `Err` names what failed; system roots that cannot be read are only warned about,
    /// because a private CA file alone is a valid setup.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let provider = provider();
        let builder = builder(provider.clone())?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider.signature_verification_algorithms,
                )))
        } else {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            if !native.errors.is_empty() {
                tracing::warn!(
                    errors = native.errors.len(),
                    "some system trust roots could not be read"
                );
            }
            roots.add_parsable_certificates(native.certs);
            for cert in &self.extra_roots {
                roots.add(cert.clone()).map_err(|e| {
                    TlsError::new(
                        "PROXY_TLS_CA_FILE",
                        format_args!("certificate rejected: {e}"),
                    )
                })?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.client_identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| {
                    TlsError::new(
                        "PROXY_TLS_CLIENT_KEY_FILE",
                        format_args!("key does not fit the certificate: {e}"),
                    )
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A TLS config with no trust roots, for a client that only ever speaks plain HTTP (the
/// reqwest clients of the tests and the bench): it satisfies a builder that insists on one
/// without reading the system trust store. The proxy's own client needs none for http.
pub fn plain_http_config() -> Result<rustls::ClientConfig, TlsError> {
    Ok(builder(provider())?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// Every client config starts here: our one crypto provider, its default protocol versions.
fn builder(
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, TlsError> {
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("PROXY_TARGET_URL", format_args!("TLS provider: {e}")))
}

/// `PROXY_TLS_INSECURE=true`: any certificate and name, signatures still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
