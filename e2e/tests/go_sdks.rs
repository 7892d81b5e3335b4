//! Alibaba Cloud's official Go SDKs, unchanged, against the fakes at the real addresses (needs
//! root: the suite's netns mode, `acr_conformance::netns`).
//!
//! `e2e/go-sdks` (built with the Go module proxy; versions pinned in its go.mod: credentials-go
//! v1.4.14, cr-20181201/v2 v2.5.0) runs inside a network namespace where fake-metadata answers at
//! 100.100.100.200:80 and fake-acr at `cr.cn-hangzhou.aliyuncs.com:443`: RAM-role credentials in
//! normal and hardened mode, then ListInstance, ListInstanceEndpoint and GetAuthorizationToken
//! signed V3 and V1, and a wrong secret refused under both signatures. The tokens it got then pull
//! from fake-acr's registry with a real OCI client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use acr_conformance::host_proxy::{HostProxy, HostRoutes};
use acr_conformance::netns::Netns;
use fake_metadata::testing::privileged_or_skip;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

const INSTANCE: &str = "cri-hzdemo0000000001";
const EE_IMAGE: &str = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";

fn build_program(out: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("go-sdks");
    let status = std::process::Command::new("go")
        .args([
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-mod=readonly",
            "-o",
        ])
        .arg(out)
        .arg(".")
        .current_dir(&source)
        .env("CGO_ENABLED", "0")
        .status()
        .expect("go runs");
    assert!(
        status.success(),
        "go build in {}: {status}",
        source.display()
    );
}

async fn pulls(ca_pem: &str, proxy: &str, user: &str, password: &str) -> Result<(), String> {
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Https,
        extra_root_certificates: vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: ca_pem.as_bytes().to_vec(),
        }],
        https_proxy: Some(proxy.to_string()),
        ..Default::default()
    });
    let reference = EE_IMAGE.parse().map_err(|e| format!("{e}"))?;
    client
        .pull_image_manifest(
            &reference,
            &RegistryAuth::Basic(user.into(), password.into()),
        )
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_go_sdks_work_against_the_fakes_at_the_real_addresses() {
    if !privileged_or_skip("the Go SDKs run in a network namespace") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let program = dir.path().join("go-sdks");
    build_program(&program);

    let secret = format!("go-sdks-{}", std::process::id());
    let metadata_settings = fake_metadata::Settings {
        account_secret: fake_metadata::settings::AccountSecret(secret.clone()),
        ..Default::default()
    };
    let metadata = fake_metadata::FakeMetadata::start(metadata_settings)
        .await
        .expect("fake-metadata starts");
    let acr = fake_acr::FakeAcr::start(fake_acr::Settings {
        account_secret: secret,
        ..Default::default()
    })
    .await
    .expect("fake-acr starts");
    let netns = Netns::create(None).await.expect("network namespace");
    netns
        .point_at(metadata.local_addr(), acr.addr(), &acr.hosts())
        .expect("point the namespace at the fakes");
    let bundle = dir.path().join("ca-bundle.pem");
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    std::fs::write(
        &bundle,
        [system.as_slice(), b"\n", acr.ca_pem().as_bytes()].concat(),
    )
    .expect("write the CA bundle");

    let mut command = netns.command(&program);
    for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        command.env_remove(var);
    }
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        command
            .env("SSL_CERT_FILE", &bundle)
            .env(
                "ALIBABA_CLOUD_ECS_METADATA",
                fake_metadata::settings::DEFAULT_ROLE,
            )
            .env("GO_SDKS_INSTANCE", INSTANCE)
            .output(),
    )
    .await
    .expect("the SDKs answer within 2 minutes")
    .expect("ip netns exec runs");
    assert!(
        output.status.success(),
        "the Go SDKs failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the program prints JSON");

    for mode in ["normal", "hardened"] {
        let c = &result[format!("credentials-{mode}")];
        assert!(
            c["accessKeyId"].as_str().is_some_and(|k| !k.is_empty()) && c["hasToken"] == true,
            "credentials-go, {mode} mode: {c}"
        );
    }
    // Hardened mode asked for a metadata token first (IMDSv2).
    let requests = metadata.admin().requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PUT" && r.path == "/latest/api/token"),
        "no PUT /latest/api/token in fake-metadata's log"
    );

    let proxy_target = acr.addr();
    let routes: HostRoutes = Arc::new(move |_: &str, _: u16| Some(proxy_target));
    let proxy = HostProxy::start(routes).await.expect("proxy");
    for signature in ["v3", "v1"] {
        let r = &result[format!("acr-{signature}")];
        let shown = format!(
            "instances {}, domains {}, user {}, wrong secret {}",
            r["instances"], r["domains"], r["user"], r["wrongSecret"]
        );
        assert!(
            r["instances"]
                .as_array()
                .is_some_and(|a| a.iter().any(|i| i == INSTANCE)),
            "{signature}: {shown}"
        );
        assert!(
            r["domains"].as_array().is_some_and(|a| a
                .iter()
                .any(|d| d == "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com")),
            "{signature}: {shown}"
        );
        assert_eq!(r["user"], "cr_temp_user", "{signature}: {shown}");
        assert_eq!(
            r["wrongSecret"], "SignatureDoesNotMatch",
            "{signature}: {shown}"
        );
        let password = r["password"].as_str().unwrap_or_default();
        pulls(acr.ca_pem(), &proxy.url(), "cr_temp_user", password)
            .await
            .unwrap_or_else(|e| panic!("{signature}: the token the SDK got does not pull: {e}"));
    }
    let issued = acr
        .admin()
        .log()
        .into_iter()
        .filter(|e| e.action == "GetAuthorizationToken" && e.result == "Success")
        .count();
    assert_eq!(issued, 2, "one token per signature");
}
