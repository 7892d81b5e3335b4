//! The TLS client configuration of the refresher's HTTP clients: the aws-lc-rs provider chosen
//! explicitly (no process-wide default is needed or installed), the Mozilla root certificates
//! bundled (the container image has no system store), plus any extra CA certificates.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why extra CA certificates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The PEM text does not parse.
    #[error("not a PEM certificate bundle ({0})")]
    Pem(String),
    /// The text holds no certificate.
    #[error("no PEM certificate in the file")]
    Empty,
    /// A certificate is not a usable trust anchor.
    #[error("unusable CA certificate ({0})")]
    Certificate(String),
}

/// The certificates of a PEM bundle, at least one.
pub fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::Pem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(CaError::Empty);
    }
    Ok(certificates)
}

/// A client configuration trusting the bundled Mozilla roots and `extra_roots`.
pub fn client_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, CaError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in extra_roots {
        roots
            .add(certificate)
            .map_err(|e| CaError::Certificate(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        assert!(matches!(parse_ca_bundle(b"hello"), Err(CaError::Empty)));
        assert!(matches!(parse_ca_bundle(b""), Err(CaError::Empty)));
    }

    #[test]
    fn an_extra_root_must_be_a_certificate() {
        assert!(client_config(Vec::new()).is_ok());
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(matches!(
            client_config(vec![garbage]),
            Err(CaError::Certificate(_))
        ));
    }
}
