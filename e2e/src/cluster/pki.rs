//! The control plane's certificates and keys, generated fresh for each control plane, and the
//! kubeconfig files that carry them.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use super::error::{Error, io_error};

/// The service-account issuer and audience; the in-cluster name clients see.
pub(crate) const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The first address of `--service-cluster-ip-range`, which the apiserver requires in its SANs.
const KUBERNETES_SERVICE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// The O of a subject that may be written a second time, under its OID (see [`Ca::client`]).
const ORGANIZATION_OID: [u64; 4] = [2, 5, 4, 10];

/// A certificate and its private key, PEM-encoded.
pub(crate) struct CertifiedKey {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

/// The control plane's certificate authority: it signs the serving certificate and every client's.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA.
    pub(crate) fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(pki_error("the CA key"))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "kubeplane-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            CertifiedIssuer::self_signed(params, key).map_err(pki_error("the CA certificate"))?;
        Ok(Ca { issuer })
    }

    /// The CA certificate, PEM-encoded.
    pub(crate) fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The apiserver's serving certificate: valid for 127.0.0.1 and the in-cluster names.
    pub(crate) fn serving(&self) -> Result<CertifiedKey, Error> {
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
        ])
        .map_err(pki_error("the apiserver serving certificate"))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .subject_alt_names
            .push(SanType::IpAddress(KUBERNETES_SERVICE_IP));
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, "the apiserver serving certificate")
    }

    /// A client certificate the apiserver's x509 authenticator maps to `user` in `groups`
    /// (CN is the user, each O a group).
    pub(crate) fn client(&self, user: &str, groups: &[&str]) -> Result<CertifiedKey, Error> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, user);
        // rcgen keeps one value per attribute type; the same OID spelled as a custom type gives a
        // second O, which is as far as it goes.
        match groups {
            [] => {}
            [one] => params
                .distinguished_name
                .push(DnType::OrganizationName, *one),
            [one, two] => {
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, *one);
                params
                    .distinguished_name
                    .push(DnType::CustomDnType(ORGANIZATION_OID.to_vec()), *two);
            }
            more => {
                return Err(Error::TooManyGroups {
                    user: user.to_owned(),
                    count: more.len(),
                });
            }
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, &format!("the client certificate for {user}"))
    }

    fn sign(&self, params: CertificateParams, what: &str) -> Result<CertifiedKey, Error> {
        let key = KeyPair::generate().map_err(pki_error(format!("the key of {what}")))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki_error(what))?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA's private key, PEM-encoded (written to disk for `cluster up` users who mint their own).
    pub(crate) fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }
}

/// The key pair that signs and verifies service-account tokens: (private PEM, public PEM).
pub(crate) fn service_account_key() -> Result<(String, String), Error> {
    let key = KeyPair::generate().map_err(pki_error("the service-account signing key"))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// A kubeconfig for `user` at `server`, with every credential inline so the file stands alone.
pub(crate) fn kubeconfig(server: &str, ca_pem: &str, user: &str, client: &CertifiedKey) -> String {
    let document = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "kubeplane",
            "cluster": {
                "server": server,
                "certificate-authority-data": STANDARD.encode(ca_pem),
            },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": STANDARD.encode(&client.cert_pem),
                "client-key-data": STANDARD.encode(&client.key_pem),
            },
        }],
        "contexts": [{
            "name": "kubeplane",
            "context": { "cluster": "kubeplane", "user": user },
        }],
        "current-context": "kubeplane",
    });
    // JSON is YAML; kubectl, client-go and kube-rs all read it.
    serde_json::to_string_pretty(&document)
        .unwrap_or_else(|e| unreachable!("a JSON document of strings always serializes: {e}"))
}

/// Writes a file only its owner can read: these hold private keys.
pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), Error> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(io_error(format!("writing {}", path.display())))
}

fn pki_error(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> Error {
    let what = what.into();
    move |source| Error::Pki { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_refuse_more_groups_than_they_can_carry() {
        let ca = Ca::generate().expect("CA");
        assert!(ca.client("alice", &[]).is_ok());
        assert!(ca.client("alice", &["team-a", "team-b"]).is_ok());
        let err = ca
            .client("alice", &["a", "b", "c"])
            .err()
            .expect("three groups must be refused");
        assert!(err.to_string().contains("alice"), "{err}");
    }

    #[test]
    fn kubeconfig_is_loadable_by_kube_rs() {
        let ca = Ca::generate().expect("CA");
        let admin = ca
            .client("admin", &["system:masters"])
            .expect("client cert");
        let text = kubeconfig("https://127.0.0.1:1", &ca.cert_pem(), "admin", &admin);
        let parsed = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig parses");
        assert_eq!(parsed.current_context.as_deref(), Some("kubeplane"));
        assert_eq!(
            parsed.clusters[0]
                .cluster
                .as_ref()
                .and_then(|c| c.server.as_deref()),
            Some("https://127.0.0.1:1")
        );
    }
}
