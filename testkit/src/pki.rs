//! Certificates generated at test time: a private CA, a server certificate for 127.0.0.1 and
//! localhost (with and without demanding a client certificate), and a client certificate, as
//! PEM files in a temporary directory and as rustls server configurations.
//!
//! Nothing here is ever committed or reused across runs: each `Pki` makes fresh keys and
//! removes its directory when dropped.

use std::path::PathBuf;
use std::sync::Arc;

/// A private CA, a server certificate for 127.0.0.1/localhost, and a client certificate.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
    /// Same server identity, but demanding a client certificate from the CA.
    pub server_mtls: Arc<rustls::ServerConfig>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let dir = std::env::temp_dir().join(format!("vpc-proxy-pki-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "vpc-proxy test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server_cert =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap()
                .signed_by(&server_key, &issuer)
                .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "vpc-proxy test client");
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let client_cert_file = dir.join("client.pem");
        std::fs::write(&client_cert_file, client_cert.pem()).unwrap();
        let client_key_file = dir.join("client.key");
        std::fs::write(&client_key_file, client_key.serialize_pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![server_cert.der().clone()];
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let server_mtls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        Pki {
            dir,
            ca_file,
            client_cert_file,
            client_key_file,
            server: Arc::new(server),
            server_mtls: Arc::new(server_mtls),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
