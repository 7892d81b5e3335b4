//! The test CA and the serving certificate (SANs for every host fake-acr answers for).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why TLS material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating the fake-acr test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected the configuration.
    #[error("building the TLS server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A generated CA and a server configuration using a certificate it signed.
pub struct TlsMaterial {
    /// CA certificate, PEM: what clients must trust.
    pub ca_pem: String,
    /// rustls server configuration (HTTP/1.1 only).
    pub server_config: Arc<rustls::ServerConfig>,
    /// Names the serving certificate covers.
    pub names: Vec<String>,
}

/// Makes a fresh CA and a leaf certificate for `hosts` plus `localhost` and 127.0.0.1.
pub fn generate(hosts: &[String]) -> Result<TlsMaterial, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake-acr test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names: Vec<String> = hosts.to_vec();
    names.push("localhost".into());
    names.push("127.0.0.1".into());
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(names.clone())?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "fake-acr");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf.der().to_vec()),
                ca_cert.der().clone(),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    // Signing covers exact headers (host, not :authority): keep clients on HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
        names,
    })
}
