//! The test CA and the serving certificate (SANs for every host fake-acr answers for). The CA
//! is generated at each start, or read from PEM files so a restarted fake keeps the trust
//! clients already installed.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

/// Why TLS material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating the fake-acr test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected the configuration.
    #[error("building the TLS server configuration: {0}")]
    Config(#[from] rustls::Error),
    /// A CA file cannot be used.
    #[error("fake-acr TLS CA {what} {path}: {reason}")]
    CaFile {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why (never the key material).
        reason: String,
    },
    /// The CA certificate and key do not sign verifiable serving certificates together.
    #[error("fake-acr TLS CA: certificate {cert} and key {key}: {reason}")]
    CaMismatch {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// Why.
        reason: String,
    },
    /// Only one of the two CA files was named.
    #[error("fake-acr TLS CA: {given} is set but {missing} is not; give both or neither")]
    CaIncomplete {
        /// The setting given.
        given: &'static str,
        /// The setting missing.
        missing: &'static str,
    },
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

/// The CA that signs fake-acr's serving certificate.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `der` as a PEM `CERTIFICATE` block.
fn certificate_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl TestCa {
    /// A fresh CA (`CN=fake-acr test CA`, ECDSA P-256).
    pub fn generate() -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "fake-acr test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `cert_path` (PEM, first `CERTIFICATE` block) with its key in `key_path`
    /// (PEM PKCS#8 `PRIVATE KEY`: ECDSA P-256/P-384, Ed25519 or RSA). Checked by signing and
    /// verifying a probe certificate, so a key of another certificate is refused here.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let cert_shown = cert_path.display().to_string();
        let key_shown = key_path.display().to_string();
        let cert_err = |reason: String| TlsError::CaFile {
            what: "certificate",
            path: cert_shown.clone(),
            reason,
        };
        let key_err = |reason: String| TlsError::CaFile {
            what: "key",
            path: key_shown.clone(),
            reason,
        };
        let cert_bytes =
            std::fs::read(cert_path).map_err(|e| cert_err(format!("cannot read: {e}")))?;
        let cert = CertificateDer::pem_slice_iter(&cert_bytes)
            .next()
            .ok_or_else(|| cert_err("no PEM CERTIFICATE block".into()))?
            .map_err(|e| cert_err(format!("not a PEM certificate: {e}")))?;
        let key_bytes =
            std::fs::read(key_path).map_err(|e| key_err(format!("cannot read: {e}")))?;
        // pki-types' messages say what block was missing, never the key bytes.
        let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                key_err("no PEM PRIVATE KEY block".into())
            }
            other => key_err(format!("not a PEM private key: {other}")),
        })?;
        let key = KeyPair::try_from(&key_der).map_err(|_| {
            key_err(
                "not a key rcgen can sign with: use an unencrypted PKCS#8 PRIVATE KEY (ECDSA P-256/P-384, Ed25519 or RSA), e.g. `openssl pkcs8 -topk8 -nocrypt`".into(),
            )
        })?;
        let issuer = Issuer::from_ca_cert_der(&cert, key)
            .map_err(|e| cert_err(format!("not an X.509 certificate rcgen can use: {e}")))?;
        let ca = Self { issuer, cert };
        ca.check_signs_verifiable(&cert_shown, &key_shown)?;
        Ok(ca)
    }

    /// Signs a probe certificate and verifies it against the CA certificate, as clients will.
    fn check_signs_verifiable(&self, cert: &str, key: &str) -> Result<(), TlsError> {
        let mismatch = |reason: String| TlsError::CaMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let (leaf, _) = self.sign_leaf(&["localhost".to_owned()])?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .map_err(|e| mismatch(format!("the certificate cannot be a trust anchor: {e}")))?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| mismatch(format!("cannot build a verifier: {e}")))?;
        let name =
            ServerName::try_from("localhost").map_err(|e| mismatch(format!("probe name: {e}")))?;
        match verifier.verify_server_cert(&leaf, &[], &name, &[], UnixTime::now()) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)) => {
                Err(mismatch(
                    "the key does not belong to the certificate (a certificate it signs does not verify)".into(),
                ))
            }
            Err(e) => Err(mismatch(format!(
                "a certificate signed with them does not verify against the CA: {e}"
            ))),
        }
    }

    /// The CA certificate, PEM: what clients must trust.
    pub fn pem(&self) -> String {
        certificate_pem(&self.cert)
    }

    fn sign_leaf(&self, names: &[String]) -> Result<(CertificateDer<'static>, KeyPair), TlsError> {
        let leaf_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "fake-acr");
        let leaf = params.signed_by(&leaf_key, &self.issuer)?;
        Ok((leaf.der().clone(), leaf_key))
    }

    /// A serving certificate for `hosts` plus `localhost` and 127.0.0.1, and its server config.
    pub fn serving_material(&self, hosts: &[String]) -> Result<TlsMaterial, TlsError> {
        let mut names: Vec<String> = hosts.to_vec();
        names.push("localhost".into());
        names.push("127.0.0.1".into());
        let (leaf, leaf_key) = self.sign_leaf(&names)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf, self.cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )?;
        // Signing covers exact headers (host, not :authority): keep clients on HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsMaterial {
            ca_pem: self.pem(),
            server_config: Arc::new(config),
            names,
        })
    }
}

/// Makes a fresh CA and a leaf certificate for `hosts` plus `localhost` and 127.0.0.1.
pub fn generate(hosts: &[String]) -> Result<TlsMaterial, TlsError> {
    TestCa::generate()?.serving_material(hosts)
}

/// The CA of the settings: read from `cert` + `key` when both are given, generated when neither.
pub fn ca_from(cert: Option<&Path>, key: Option<&Path>) -> Result<TestCa, TlsError> {
    match (cert, key) {
        (Some(c), Some(k)) => TestCa::from_pem_files(c, k),
        (None, None) => TestCa::generate(),
        (Some(_), None) => Err(TlsError::CaIncomplete {
            given: "tls_ca_cert",
            missing: "tls_ca_key",
        }),
        (None, Some(_)) => Err(TlsError::CaIncomplete {
            given: "tls_ca_key",
            missing: "tls_ca_cert",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_ca(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, key)
    }

    #[test]
    fn ca_files_load_and_bad_ones_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = write_ca(dir.path(), "one");
        let ca = TestCa::from_pem_files(&cert, &key).unwrap();
        let text = std::fs::read_to_string(&cert).unwrap();
        assert_eq!(ca.pem().trim(), text.trim(), "the CA served is the file's");

        let (_, other_key, _) = write_ca(dir.path(), "two");
        let err = TestCa::from_pem_files(&cert, &other_key)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("one.crt") && err.contains("two.key") && err.contains("does not belong"),
            "{err}"
        );

        let missing = dir.path().join("absent.pem");
        let err = TestCa::from_pem_files(&missing, &key)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("absent.pem") && err.contains("cannot read"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello\n").unwrap();
        let err = TestCa::from_pem_files(&junk, &key)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("certificate") && err.contains("junk.pem") && err.contains("PEM"),
            "{err}"
        );
        let err = TestCa::from_pem_files(&cert, &junk)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("key") && err.contains("junk.pem") && err.contains("PEM"),
            "{err}"
        );
        // The key file holding a certificate: a PEM file, but no key in it.
        let err = TestCa::from_pem_files(&cert, &cert)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("TLS CA key") && err.contains("one.crt") && err.contains("PRIVATE KEY"),
            "{err}"
        );
        assert!(
            ca_from(Some(&cert), None)
                .err()
                .unwrap()
                .to_string()
                .contains("tls_ca_key")
        );
    }

    #[test]
    fn errors_never_show_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _, key) = write_ca(dir.path(), "k");
        let pem = key.serialize_pem();
        // A truncated key: PEM armour, broken body.
        let broken = dir.path().join("broken.key");
        let half = &pem[..pem.len() / 2];
        std::fs::write(&broken, format!("{half}\n-----END PRIVATE KEY-----\n")).unwrap();
        let err = TestCa::from_pem_files(&cert, &broken)
            .err()
            .unwrap()
            .to_string();
        let body_line = pem.lines().nth(1).unwrap();
        assert!(!err.contains(body_line), "{err}");
        assert!(err.contains("broken.key"), "{err}");
    }
}
