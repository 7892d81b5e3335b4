//! A stable CA: fake-acr started (in-process or as the binary, by config key, env var or flag)
//! with the same CA files serves certificates that verify against that one CA, so a restarted
//! fake keeps the trust clients installed; bad CA files stop the binary with the file named.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_acr::{FakeAcr, Settings};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncBufReadExt, BufReader};

const REGISTRY: &str = "registry.cn-hangzhou.aliyuncs.com";
const DEADLINE: Duration = Duration::from_secs(20);

/// Writes a CA certificate and key as PEM files; returns (cert, key, cert PEM).
fn write_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} stable CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k, cert.pem())
}

/// `GET https://registry…/v2/` at `addr` trusting only `ca_pem`: the TLS handshake verifies and
/// fake-acr answers its 401 challenge.
async fn assert_served_under(ca_pem: &str, addr: SocketAddr) {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .resolve(REGISTRY, addr)
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("https://{REGISTRY}:{}/v2/", addr.port());
    let r = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} trusting only the stable CA: {e:?}"));
    assert_eq!(r.status(), 401);
}

fn with_ca(cert: &Path, key: &Path) -> Settings {
    Settings {
        tls_ca_cert: Some(cert.to_owned()),
        tls_ca_key: Some(key.to_owned()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn two_starts_with_the_same_ca_files_serve_certificates_of_that_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = write_ca(dir.path(), "stable");
    let first = FakeAcr::start(with_ca(&cert, &key)).await.unwrap();
    assert_eq!(first.ca_pem().trim(), pem.trim());
    assert_served_under(&pem, first.addr()).await;
    drop(first);
    let second = FakeAcr::start(with_ca(&cert, &key)).await.unwrap();
    assert_eq!(second.ca_pem().trim(), pem.trim());
    assert_served_under(&pem, second.addr()).await;
    // Without CA files each start makes its own CA, which the stable one does not vouch for.
    let fresh = FakeAcr::start(Settings::default()).await.unwrap();
    assert_ne!(fresh.ca_pem().trim(), pem.trim());
    // The CA files are listener-bound: a replacement may not name others.
    let (other_cert, other_key, _) = write_ca(dir.path(), "other");
    let err = second
        .replace_settings(with_ca(&other_cert, &other_key))
        .unwrap_err();
    assert!(err.to_string().contains("tls_ca_cert"), "{err}");
    second
        .replace_settings(with_ca(&cert, &key))
        .expect("the running CA files may be repeated");
}

/// A started fake-acr binary: its process and where it listens.
struct Binary {
    _child: tokio::process::Child,
    addr: SocketAddr,
}

/// Runs the binary with `args` and `env`; the listening line, or the exit status and stderr.
async fn run_binary(args: &[&str], env: &[(&str, &Path)]) -> Result<Binary, String> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-acr"));
    cmd.args(args)
        .env_remove("FAKE_ACR_TLS_CA_CERT")
        .env_remove("FAKE_ACR_TLS_CA_KEY")
        .env_remove("FAKE_ACR_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the fake-acr binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("fake-acr prints a line or exits within the deadline")
        .unwrap();
    match line {
        Some(line) => {
            let addr = line
                .strip_prefix("fake-acr listening on ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("unexpected first line: {line}"));
            Ok(Binary {
                _child: child,
                addr,
            })
        }
        None => {
            let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
                .await
                .expect("fake-acr exits within the deadline")
                .unwrap();
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

#[tokio::test]
async fn the_binary_takes_the_ca_from_config_env_or_flags_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a, pem_a) = write_ca(dir.path(), "a");
    let (cert_b, key_b, pem_b) = write_ca(dir.path(), "b");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "tls_ca_cert: {}\ntls_ca_key: {}\n",
            cert_a.display(),
            key_a.display()
        ),
    )
    .unwrap();
    let config_s = config.to_str().unwrap();
    let out = dir.path().join("ca-out.pem");
    let out_s = out.to_str().unwrap();

    // Config file alone: CA a, also written by --tls-ca-out.
    let bin = run_binary(&["--config", config_s, "--tls-ca-out", out_s], &[])
        .await
        .unwrap();
    assert_served_under(&pem_a, bin.addr).await;
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), pem_a.trim());
    drop(bin);
    // Environment over the config file: CA b.
    let bin = run_binary(
        &["--config", config_s],
        &[
            ("FAKE_ACR_TLS_CA_CERT", &cert_b),
            ("FAKE_ACR_TLS_CA_KEY", &key_b),
        ],
    )
    .await
    .unwrap();
    assert_served_under(&pem_b, bin.addr).await;
    drop(bin);
    // Flags over the environment: CA a again.
    let bin = run_binary(
        &[
            "--tls-ca-cert",
            cert_a.to_str().unwrap(),
            "--tls-ca-key",
            key_a.to_str().unwrap(),
        ],
        &[
            ("FAKE_ACR_TLS_CA_CERT", &cert_b),
            ("FAKE_ACR_TLS_CA_KEY", &key_b),
        ],
    )
    .await
    .unwrap();
    assert_served_under(&pem_a, bin.addr).await;
    drop(bin);

    // Mismatched pair: the binary stops and names both files.
    let err = run_binary(
        &[
            "--tls-ca-cert",
            cert_a.to_str().unwrap(),
            "--tls-ca-key",
            key_b.to_str().unwrap(),
        ],
        &[],
    )
    .await
    .err()
    .expect("a mismatched CA pair is refused");
    assert!(
        err.contains("a.crt") && err.contains("b.key") && err.contains("does not belong"),
        "{err}"
    );
    let secret_line = std::fs::read_to_string(&key_b).unwrap();
    assert!(!err.contains(secret_line.lines().nth(1).unwrap()), "{err}");
    // Only one of the pair: clap refuses before starting.
    let err = run_binary(&["--tls-ca-cert", cert_a.to_str().unwrap()], &[])
        .await
        .err()
        .expect("half a pair is refused");
    assert!(err.contains("--tls-ca-key"), "{err}");
}
