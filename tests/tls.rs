//! Backend TLS against a loopback HTTPS server whose CA is generated in the test: private CA
//! trusted via PROXY_TLS_CA_FILE, unknown CA refused, the explicit insecure opt-in, mutual TLS.

mod common;

use common::*;

fn vars<'a>(target: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("PROXY_TARGET_URL", target),
        ("PROXY_ALLOWED_IPS", ALLOWED_IP),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn private_ca_is_trusted_only_when_configured() {
    let pki = Pki::new("ca");
    let backend = Backend::https(echo(), pki.server.clone()).await;
    let url = backend.url("https");

    let untrusted = proxy_with(&vars(&url, &[]));
    let r = untrusted.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(
        r["statusCode"], 502,
        "a certificate from an unknown CA is a TLS failure"
    );
    assert_eq!(untrusted.failure_reasons(), ["tls"]);
    assert_eq!(untrusted.failure_errors(), ["unknown issuer"]);

    let ca = pki.ca_file.display().to_string();
    let trusted = proxy_with(&vars(&url, &[("PROXY_TLS_CA_FILE", &ca)]));
    let r = trusted.call(&v1("GET", "/secure", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(backend.last().uri, "/secure");
}

#[tokio::test]
async fn hostname_is_verified() {
    let pki = Pki::new("name");
    let backend = Backend::https_on_all_addresses(echo(), pki.server.clone()).await;
    let port = backend.addr.port();
    let ca = pki.ca_file.display().to_string();
    // Reachable on both addresses; the certificate names 127.0.0.1 and localhost only.
    let named = proxy_with(&vars(
        &format!("https://127.0.0.1:{port}"),
        &[("PROXY_TLS_CA_FILE", &ca)],
    ));
    assert_eq!(
        named.call(&v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );
    let p = proxy_with(&vars(
        &format!("https://127.0.0.2:{port}"),
        &[("PROXY_TLS_CA_FILE", &ca)],
    ));
    let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502);
    assert_eq!(
        p.failure_reasons(),
        ["tls"],
        "refused for the name, not unreachable"
    );
    assert_eq!(p.failure_errors(), ["hostname mismatch"]);
}

#[tokio::test]
async fn insecure_opt_in_skips_verification_and_warns() {
    let pki = Pki::new("insecure");
    let backend = Backend::https(echo(), pki.server.clone()).await;
    let url = backend.url("https");
    let config = vpc_proxy::config::Config::from_lookup(|k| match k {
        "PROXY_TARGET_URL" => Some(url.clone()),
        "PROXY_ALLOWED_IPS" => Some(ALLOWED_IP.to_owned()),
        "PROXY_TLS_INSECURE" => Some("true".to_owned()),
        _ => None,
    })
    .unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("NOT verified")));
    let p = proxy_with(&vars(&url, &[("PROXY_TLS_INSECURE", "true")]));
    let r = p.call(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 200);
}

#[tokio::test]
async fn mutual_tls() {
    let pki = Pki::new("mtls");
    let backend = Backend::https(echo(), pki.server_mtls.clone()).await;
    let url = backend.url("https");
    let ca = pki.ca_file.display().to_string();

    let without = proxy_with(&vars(&url, &[("PROXY_TLS_CA_FILE", &ca)]));
    assert_eq!(
        without.call_logged(&v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        502
    );
    assert_eq!(without.failure_reasons(), ["tls"]);
    assert_eq!(without.failure_errors(), ["client certificate rejected"]);

    let cert = pki.client_cert_file.display().to_string();
    let key = pki.client_key_file.display().to_string();
    let with = proxy_with(&vars(
        &url,
        &[
            ("PROXY_TLS_CA_FILE", &ca),
            ("PROXY_TLS_CLIENT_CERT_FILE", &cert),
            ("PROXY_TLS_CLIENT_KEY_FILE", &key),
        ],
    ));
    assert_eq!(
        with.call(&v1("GET", "/", ALLOWED_IP)).await["statusCode"],
        200
    );
}

/// A CA (written to `dir/name-ca.pem`) and a server config whose certificate it signed for
/// 127.0.0.1, valid from `from` to `until`.
fn dated_server(
    dir: &std::path::Path,
    name: &str,
    from: (i32, u8, u8),
    until: (i32, u8, u8),
) -> (std::path::PathBuf, std::sync::Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(until.0, until.1, until.2);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let ca_file = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (ca_file, std::sync::Arc::new(config))
}

#[tokio::test]
async fn certificate_out_of_its_validity_is_named() {
    let pki = Pki::new("dates");
    for (name, from, until, error) in [
        ("expired", (2020, 1, 1), (2021, 1, 1), "certificate expired"),
        (
            "future",
            (2090, 1, 1),
            (2091, 1, 1),
            "certificate not yet valid",
        ),
    ] {
        let (ca_file, server) = dated_server(&pki.dir, name, from, until);
        let backend = Backend::https(echo(), server).await;
        let ca = ca_file.display().to_string();
        let p = proxy_with(&vars(&backend.url("https"), &[("PROXY_TLS_CA_FILE", &ca)]));
        let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
        assert_eq!(r["statusCode"], 502, "{name}");
        assert_eq!(p.failure_reasons(), ["tls"], "{name}");
        assert_eq!(p.failure_errors(), [error], "{name}");
        assert!(backend.seen().is_empty(), "{name}: nothing was sent");
    }
}

#[tokio::test]
async fn a_peer_that_does_not_speak_tls_is_a_tls_failure() {
    let backend = Backend::http(echo()).await;
    let url = format!("https://{}", backend.addr);
    let p = proxy(&url);
    let r = p.call_logged(&v1("GET", "/", ALLOWED_IP)).await;
    assert_eq!(r["statusCode"], 502);
    assert_eq!(p.failure_reasons(), ["tls"]);
    assert_eq!(p.failure_errors(), ["tls handshake failed"]);
}

#[test]
fn bad_pem_stops_configuration() {
    let pki = Pki::new("badpem");
    let junk = pki.dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk_s = junk.display().to_string();
    for (var, extra) in [
        (
            "PROXY_TLS_CA_FILE",
            vec![("PROXY_TLS_CA_FILE", junk_s.as_str())],
        ),
        (
            "PROXY_TLS_CLIENT_KEY_FILE",
            vec![
                (
                    "PROXY_TLS_CLIENT_CERT_FILE",
                    pki.client_cert_file.to_str().unwrap(),
                ),
                ("PROXY_TLS_CLIENT_KEY_FILE", junk_s.as_str()),
            ],
        ),
    ] {
        let mut all = vec![
            ("PROXY_TARGET_URL", "https://127.0.0.1"),
            ("PROXY_ALLOWED_IPS", ALLOWED_IP),
        ];
        all.extend(extra);
        let e = vpc_proxy::config::Config::from_lookup(|k| {
            all.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap_err();
        assert_eq!(e.variable, var, "{e}");
        assert!(e.to_string().contains(&junk_s), "{e}");
    }
}
