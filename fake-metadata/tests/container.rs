//! The fake-metadata container image: built by images.sh (as `just images` builds it), started
//! with the engine's command line and through the testcontainers module, and asked for what an
//! ECS node's RAM-role client asks.

#[path = "support/containers.rs"]
mod containers;

use std::time::Duration;

use containers::{Container, poll};
use fake_metadata::settings::DEFAULT_ROLE;
use fake_metadata::testcontainers::FakeMetadata;

const DEADLINE: Duration = Duration::from_secs(30);

async fn get(url: &str) -> Result<(u16, String), String> {
    let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

/// Asks `base` for the role listing and the role's credentials; checks the shape of docs/wire.md.
async fn assert_serves_role_credentials(base: &str) {
    let listing = format!("{base}/latest/meta-data/ram/security-credentials/");
    let (status, body) = poll("role listing", DEADLINE, || get(&listing)).await;
    assert_eq!((status, body.trim()), (200, DEFAULT_ROLE), "role listing");
    let (status, body) = get(&format!("{listing}{DEFAULT_ROLE}"))
        .await
        .expect("credentials request");
    assert_eq!(status, 200, "credentials: {status}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("credentials are JSON");
    assert_eq!(json["Code"], "Success");
    assert!(
        json["AccessKeyId"]
            .as_str()
            .is_some_and(|id| id.starts_with("STS.")),
        "AccessKeyId shape"
    );
    for field in [
        "AccessKeySecret",
        "SecurityToken",
        "Expiration",
        "LastUpdated",
    ] {
        assert!(
            json[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} missing"
        );
    }
}

#[tokio::test]
async fn image_runs_non_root_from_scratch_and_serves_role_credentials() {
    let Some((engine, reference)) =
        containers::checked_image_or_skip("fake-metadata image", "fake-metadata")
    else {
        return;
    };

    let container = Container::start(
        engine,
        &[
            "-p",
            "127.0.0.1::8080",
            "-p",
            "127.0.0.1::8081",
            &reference,
            "--region",
            "cn-beijing",
        ],
    );
    let base = format!("http://127.0.0.1:{}", container.port("8080/tcp"));
    let region_url = format!("{base}/latest/meta-data/region-id");
    let region = poll("region-id", DEADLINE, || get(&region_url)).await;
    assert_eq!(
        region,
        (200, "cn-beijing".to_owned()),
        "flags reach the binary; logs: {}",
        container.logs()
    );
    assert_serves_role_credentials(&base).await;
    let admin = format!("http://127.0.0.1:{}", container.port("8081/tcp"));
    let (status, _) = get(&format!("{admin}/state")).await.expect("admin API");
    assert_eq!(status, 200, "admin API /state");
}

#[tokio::test(flavor = "multi_thread")]
async fn testcontainers_module_starts_the_image() {
    const NAME: &str = "testcontainers_module_starts_the_image";
    let Some(reference) = containers::image_for_testcontainers(
        NAME,
        "fake-metadata testcontainers module",
        "fake-metadata",
    ) else {
        return;
    };
    let image = FakeMetadata::default().with_region("cn-shanghai");
    let container = fake_server_kit::testing::start_on_loopback(image, &reference).await;
    let urls = FakeMetadata::urls(&container)
        .await
        .expect("published ports");
    let region = get(&format!("{}/latest/meta-data/region-id", urls.metadata))
        .await
        .expect("region-id");
    assert_eq!(region, (200, "cn-shanghai".to_owned()));
    assert_serves_role_credentials(&urls.metadata).await;
    let (status, _) = get(&format!("{}/state", urls.admin))
        .await
        .expect("admin API");
    assert_eq!(status, 200);
}
