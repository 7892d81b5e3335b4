//! The fake-acr container image: built by images.sh (as `just images` builds it), started with the
//! engine's command line and through the testcontainers module, and asked over TLS, under a real
//! registry host name, for the Registry v2 challenge. Also: the kind files route every host name
//! fake-acr serves.

#[path = "../../fake-metadata/tests/support/containers.rs"]
mod containers;

use std::net::SocketAddr;
use std::time::Duration;

use containers::{Container, poll};
use fake_acr::testcontainers::FakeAcr;

const DEADLINE: Duration = Duration::from_secs(30);
const REGISTRY: &str = "registry.cn-hangzhou.aliyuncs.com";

async fn get_text(url: &str) -> Result<String, String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}

/// `GET https://registry.cn-hangzhou.aliyuncs.com/v2/` sent to `addr`, trusting only `ca_pem`:
/// a 401 with a Bearer challenge whose realm is the region's token service.
async fn assert_registry_challenge(addr: SocketAddr, ca_pem: &str) {
    assert!(
        ca_pem.contains("BEGIN CERTIFICATE"),
        "a PEM test CA: {ca_pem:?}"
    );
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the test CA parses");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(REGISTRY, addr)
        .build()
        .expect("client");
    let url = format!("https://{REGISTRY}:{}/v2/", addr.port());
    let response = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    assert_eq!(response.status(), 401, "GET {url}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "challenge: {challenge}");
    assert!(
        challenge.contains("dockerauth.cn-hangzhou.aliyuncs.com"),
        "realm: {challenge}"
    );
}

#[tokio::test]
async fn image_runs_non_root_from_scratch_and_serves_tls_under_registry_names() {
    let Some((engine, reference)) = containers::checked_image_or_skip("fake-acr image", "fake-acr")
    else {
        return;
    };

    let container = Container::start(
        engine,
        &["-p", "127.0.0.1::8443", "-p", "127.0.0.1::8444", &reference],
    );
    let admin = format!("http://127.0.0.1:{}", container.port("8444/tcp"));
    let health = format!("{admin}/healthz");
    poll("fake-acr admin /healthz", DEADLINE, || get_text(&health)).await;
    let ca_pem = get_text(&format!("{admin}/ca.pem"))
        .await
        .expect("GET /ca.pem");
    let addr = SocketAddr::from(([127, 0, 0, 1], container.port("8443/tcp")));
    assert_registry_challenge(addr, &ca_pem).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn testcontainers_module_starts_the_image() {
    const NAME: &str = "testcontainers_module_starts_the_image";
    let Some(reference) =
        containers::image_for_testcontainers(NAME, "fake-acr testcontainers module", "fake-acr")
    else {
        return;
    };
    let image = FakeAcr::default().with_token_lifetime(Duration::from_secs(120));
    let container = fake_server_kit::testing::start_on_loopback(image, &reference).await;
    let endpoints = FakeAcr::endpoints(&container)
        .await
        .expect("endpoints and CA");
    let ip = tokio::net::lookup_host((endpoints.host.as_str(), endpoints.port))
        .await
        .expect("the engine's host resolves")
        .find(SocketAddr::is_ipv4)
        .expect("an IPv4 address for the engine's host");
    assert_registry_challenge(ip, &endpoints.ca_pem).await;
    let hosts = get_text(&format!("{}/hosts", endpoints.admin))
        .await
        .expect("GET /hosts");
    assert!(hosts.contains(REGISTRY), "/hosts lists {REGISTRY}: {hosts}");
}

/// e2e/kind/manifests/30-coredns.yaml answers one zone, aliyuncs.com, with fake-acr's externalIP:
/// every host name fake-acr serves by default must fall under it.
#[test]
fn kind_dns_zone_covers_every_default_host() {
    let corefile = std::fs::read_to_string(
        containers::workspace_root().join("e2e/kind/manifests/30-coredns.yaml"),
    )
    .expect("reading the kind CoreDNS manifest");
    assert!(
        corefile.contains("template IN A aliyuncs.com"),
        "the CoreDNS zone of the fakes"
    );
    let hosts = fake_acr::hosts::all(&fake_acr::Settings::default());
    assert!(hosts.len() >= 20, "default world: {hosts:?}");
    for (host, _) in hosts {
        assert!(
            host.ends_with(".aliyuncs.com"),
            "{host} is outside the zone CoreDNS sends to fake-acr"
        );
    }
}

/// The settings file e2e/kind/manifests/20-fake-acr.yaml gives fake-acr is one fake-acr accepts,
/// and it makes token realms name port 443 (the Service port), not the container's 8443.
#[test]
fn kind_config_map_is_valid_fake_acr_settings() {
    let path = containers::workspace_root().join("e2e/kind/manifests/20-fake-acr.yaml");
    let text = std::fs::read_to_string(&path).expect("reading the kind fake-acr manifest");
    let config = serde_norway::Deserializer::from_str(&text)
        .map(|doc| <serde_norway::Value as serde::Deserialize>::deserialize(doc).expect("YAML"))
        .find(|doc| doc["kind"] == "ConfigMap")
        .and_then(|doc| doc["data"]["config.yaml"].as_str().map(str::to_owned))
        .expect("ConfigMap fake-acr-config with config.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, config).expect("writing config.yaml");
    let settings =
        fake_acr::Settings::from_file(&file).expect("fake-acr accepts the kind settings");
    assert_eq!(settings.advertised_port, Some(443));
}
