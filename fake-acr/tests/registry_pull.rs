//! Registry v2 with a real OCI client (oci-client): pulls with temporary credentials from the
//! OpenAPI, refusals with tokens of another region or instance, and the token endpoint variants.

mod support;

use fake_acr::settings::{Policy, Settings};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use support::*;

async fn oci_client(w: &World) -> (Client, tokio::task::JoinHandle<()>) {
    oci_client_for(w, ClientConfig::default()).await
}

/// `base` (e.g. with a platform resolver) pointed at the fake through a CONNECT proxy.
async fn oci_client_for(w: &World, base: ClientConfig) -> (Client, tokio::task::JoinHandle<()>) {
    let (proxy, task) = connect_proxy(w.fake.addr(), w.fake.hosts()).await;
    let config = ClientConfig {
        protocol: ClientProtocol::Https,
        extra_root_certificates: vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: w.fake.ca_pem().as_bytes().to_vec(),
        }],
        https_proxy: Some(format!("http://{proxy}")),
        ..base
    };
    (Client::new(config), task)
}

/// This machine's architecture as OCI names it (what oci-client's default resolver picks).
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn settings() -> Settings {
    // Realms then name port 443, which the CONNECT proxy maps to the fake like any other.
    Settings {
        advertised_port: Some(443),
        ..Settings::default()
    }
}

async fn pull(
    client: &Client,
    image: &str,
    auth: &RegistryAuth,
) -> Result<oci_client::client::ImageData, oci_client::errors::OciDistributionError> {
    let reference: Reference = image.parse().unwrap();
    client
        .pull(
            &reference,
            auth,
            vec![
                oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE,
                oci_client::manifest::IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE,
            ],
        )
        .await
}

/// The refusal happened at the fake (not in the client or the proxy).
fn assert_refused_at(w: &World, host: &str) {
    let log = w.fake.admin().log();
    assert!(
        log.iter()
            .any(|e| e.host == host && e.result == "UNAUTHORIZED"),
        "no UNAUTHORIZED at {host}: {log:?}"
    );
}

#[tokio::test]
async fn ee_pull_with_temporary_credentials_and_refusal_for_another_instance() {
    let w = start(settings()).await;
    let creds = sts_credentials("acr-node", w.fake.admin().now().as_second(), 3600);
    let (user, password, _) = ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &creds).await;
    let auth = RegistryAuth::Basic(user.clone(), password.clone());
    let (client, _proxy) = oci_client(&w).await;
    let image = pull(
        &client,
        "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest",
        &auth,
    )
    .await
    .expect("pull succeeds");
    assert_eq!(image.layers.len(), 1);
    let expected = fake_acr::images::Image::demo("cri-hzdemo0000000001/team/private-app");
    // `latest` is an index; oci-client resolves it to this machine's platform.
    assert_eq!(
        image.digest.as_deref(),
        expected.platform_manifest("linux", host_architecture())
    );
    assert_eq!(
        fake_acr::images::digest(&image.layers[0].data),
        image.manifest.unwrap().layers[0].digest
    );
    // Docker schema 2 tag on the VPC host of the same instance.
    let (client, _p2) = oci_client(&w).await;
    pull(
        &client,
        "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com/team/private-app:docker",
        &auth,
    )
    .await
    .expect("docker schema 2 pull");
    assert!(w.fake.admin().count("Registry.Token") >= 2);
    assert!(
        w.fake
            .admin()
            .log()
            .iter()
            .any(|e| e.action == "Registry.GetBlob"
                && e.principal.as_deref() == Some("role/acr-node"))
    );
    // The same credentials on the other instance are refused.
    let (client, _p3) = oci_client(&w).await;
    let err = pull(
        &client,
        "demo-bj-registry.cn-beijing.cr.aliyuncs.com/team/private-app:latest",
        &auth,
    )
    .await;
    assert!(
        err.is_err(),
        "token of instance cri-hz must not open cri-bj"
    );
    assert_refused_at(&w, "dockerauth.cn-beijing.aliyuncs.com");
}

#[tokio::test]
async fn personal_pull_is_bound_to_its_region() {
    let w = start(settings()).await;
    let creds = static_credentials();
    let (user, password, _) = personal_token(&w, "cn-hangzhou", &creds).await;
    let auth = RegistryAuth::Basic(user, password);
    let (client, _p) = oci_client(&w).await;
    pull(
        &client,
        "registry.cn-hangzhou.aliyuncs.com/demo/private-app:v1",
        &auth,
    )
    .await
    .expect("same region pulls");
    let (client, _p) = oci_client(&w).await;
    assert!(
        pull(
            &client,
            "registry.cn-beijing.aliyuncs.com/demo/private-app:v1",
            &auth
        )
        .await
        .is_err(),
        "other region refused"
    );
    assert_refused_at(&w, "dockerauth.cn-beijing.aliyuncs.com");
    let (client, _p) = oci_client(&w).await;
    assert!(
        pull(
            &client,
            "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:v1",
            &auth
        )
        .await
        .is_err(),
        "Personal token does not open EE"
    );
}

#[tokio::test]
async fn anonymous_pulls_only_public_repositories() {
    let w = start(settings()).await;
    let (client, _p) = oci_client(&w).await;
    pull(
        &client,
        "registry.cn-beijing.aliyuncs.com/demo/public-app:latest",
        &RegistryAuth::Anonymous,
    )
    .await
    .expect("public pull");
    let (client, _p) = oci_client(&w).await;
    assert!(
        pull(
            &client,
            "registry.cn-beijing.aliyuncs.com/demo/private-app:latest",
            &RegistryAuth::Anonymous
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn expired_password_and_missing_pull_permission_are_refused() {
    let mut s = settings();
    s.policies.insert(
        0,
        Policy {
            principal: "role/no-pull".into(),
            actions: vec!["cr:Get*".into()],
        },
    );
    let w = start(s).await;
    let now = w.fake.admin().now().as_second();
    // No cr:PullRepository: token issued, pull refused (401 at /v2 after an empty-access token).
    let creds = sts_credentials("no-pull", now, 3600);
    let (user, password, _) = ee_token(&w, "cn-hangzhou", "cri-hzdemo0000000001", &creds).await;
    let (client, _p) = oci_client(&w).await;
    assert!(
        pull(
            &client,
            "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest",
            &RegistryAuth::Basic(user.clone(), password.clone())
        )
        .await
        .is_err()
    );
    // Basic straight on /v2 with that principal: 403 DENIED.
    let url = format!(
        "{}/v2/team/private-app/manifests/latest",
        w.fake
            .endpoint_for("demo-hz-registry.cn-hangzhou.cr.aliyuncs.com")
    );
    let r = w
        .http
        .get(&url)
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Expired: move the server clock past the password's expiry.
    let (user, password, exp) = ee_token(
        &w,
        "cn-hangzhou",
        "cri-hzdemo0000000001",
        &static_credentials(),
    )
    .await;
    let r = w
        .http
        .get(&url)
        .basic_auth(&user, Some(&password))
        .header("accept", fake_acr::images::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Accept lists the OCI manifest type only: the linux/amd64 manifest instead of the index.
    assert_eq!(
        r.headers()["docker-content-digest"],
        fake_acr::images::Image::demo("cri-hzdemo0000000001/team/private-app")
            .platform_manifest("linux", "amd64")
            .unwrap()
    );
    assert_eq!(r.headers()["content-type"], fake_acr::images::OCI_MANIFEST);
    w.fake.admin().set_clock_offset_secs((exp / 1000 - now) + 1);
    let r = w
        .http
        .get(&url)
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"https://dockerauth.cn-hangzhou.aliyuncs.com/auth\",service=\"registry.aliyuncs.com:cn-hangzhou:cri-hzdemo0000000001\""));
}

#[tokio::test]
async fn token_endpoint_get_and_containerd_post() {
    let w = start(settings()).await;
    let (user, password, _) = personal_token(&w, "cn-hangzhou", &static_credentials()).await;
    let base = w.fake.endpoint_for("dockerauth.cn-hangzhou.aliyuncs.com");
    let ping = w
        .http
        .get(format!(
            "{}/v2/",
            w.fake.endpoint_for("registry.cn-hangzhou.aliyuncs.com")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 401);
    assert_eq!(
        ping.headers()["www-authenticate"],
        "Bearer realm=\"https://dockerauth.cn-hangzhou.aliyuncs.com/auth\",service=\"registry.aliyuncs.com:cn-hangzhou:26842\""
    );
    let body: serde_json::Value = ping.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    // GET with Basic and docker's account=.
    let r = w.http.get(format!("{base}/auth?account=cr_temp_user&scope=repository%3Ademo%2Fprivate-app%3Apull&service=registry.aliyuncs.com%3Acn-hangzhou%3A26842"))
        .basic_auth(&user, Some(&password)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["token"], t["access_token"]);
    assert!(t["expires_in"].as_i64().unwrap() >= 60);
    let manifest = w
        .http
        .get(format!(
            "{}/v2/demo/private-app/manifests/latest",
            w.fake.endpoint_for("registry.cn-hangzhou.aliyuncs.com")
        ))
        .bearer_auth(t["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), 200);
    // The same bearer token does not open another repository.
    let other = w
        .http
        .get(format!(
            "{}/v2/demo/public-app/manifests/latest",
            w.fake.endpoint_for("registry.cn-beijing.aliyuncs.com")
        ))
        .bearer_auth(t["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    // containerd's POST form.
    let r = w.http.post(format!("{base}/auth"))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(format!("grant_type=password&username=cr_temp_user&password={}&service=registry.aliyuncs.com%3Acn-hangzhou%3A26842&scope=repository%3Ademo%2Fprivate-app%3Apull&client_id=containerd-client", query(&[("p", &password)]).trim_start_matches("p=")))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    assert!(t["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(t["scope"], "repository:demo/private-app:pull");
    // Wrong password → 401.
    let r = w
        .http
        .get(format!(
            "{base}/auth?service=registry.aliyuncs.com%3Acn-hangzhou%3A26842"
        ))
        .basic_auth("cr_temp_user", Some("bm9wZQ==:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A cn-beijing password at the cn-hangzhou token service → 401.
    let (u2, p2, _) = personal_token(&w, "cn-beijing", &static_credentials()).await;
    let r = w.http.get(format!("{base}/auth?service=registry.aliyuncs.com%3Acn-hangzhou%3A26842&scope=repository%3Ademo%2Fprivate-app%3Apull")).basic_auth(&u2, Some(&p2)).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// `cmd args` with `input` on stdin; its stdout.
fn run_with_stdin(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", out.status);
    out.stdout
}

#[tokio::test]
async fn latest_is_a_two_platform_index_whose_layer_unpacks_to_its_diff_id() {
    use fake_acr::images::{self, OCI_INDEX, OCI_MANIFEST};
    let w = start(settings()).await;
    let demo = images::Image::demo("demo/public-app");
    let base = w.fake.endpoint_for("registry.cn-beijing.aliyuncs.com");
    let accept = format!("{OCI_INDEX}, {OCI_MANIFEST}");
    // The index by tag, GET and HEAD, and each platform manifest by digest.
    let r = w
        .http
        .get(format!("{base}/v2/demo/public-app/manifests/latest"))
        .header("accept", &accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let index_digest = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(index_digest, demo.tags["latest"]);
    let body = r.bytes().await.unwrap();
    assert_eq!(images::digest(&body), index_digest);
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let r = w
        .http
        .head(format!("{base}/v2/demo/public-app/manifests/v1"))
        .header("accept", &accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert_eq!(r.headers()["docker-content-digest"], index_digest.as_str());
    assert_eq!(
        r.headers()["content-length"],
        body.len().to_string().as_str()
    );
    let mut archs = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let d = entry["digest"].as_str().unwrap();
        for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
            let r = w
                .http
                .request(
                    method.clone(),
                    format!("{base}/v2/demo/public-app/manifests/{d}"),
                )
                .header("accept", &accept)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{method} {d}");
            assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
            assert_eq!(r.headers()["docker-content-digest"], d);
        }
        archs.push(
            entry["platform"]["architecture"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(archs, ["amd64", "arm64"]);

    // oci-client on an arm64 node takes the arm64 entry.
    let arm64 = ClientConfig {
        platform_resolver: Some(Box::new(
            |entries: &[oci_client::manifest::ImageIndexEntry]| {
                entries
                    .iter()
                    .find(|e| {
                        e.platform
                            .as_ref()
                            .is_some_and(|p| p.architecture.to_string() == "arm64")
                    })
                    .map(|e| e.digest.clone())
            },
        )),
        ..ClientConfig::default()
    };
    let (client, _p) = oci_client_for(&w, arm64).await;
    let image = pull(
        &client,
        "registry.cn-beijing.aliyuncs.com/demo/public-app:latest",
        &RegistryAuth::Anonymous,
    )
    .await
    .expect("arm64 pull");
    let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        image.digest.as_deref(),
        demo.platform_manifest("linux", "arm64")
    );

    // The default client (this machine's platform); containerd checks what follows on unpack.
    let (client, _p) = oci_client(&w).await;
    let image = pull(
        &client,
        "registry.cn-beijing.aliyuncs.com/demo/public-app:latest",
        &RegistryAuth::Anonymous,
    )
    .await
    .expect("pull for this platform");
    let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
    assert_eq!(config["architecture"], host_architecture());
    let layer = &image.layers[0].data;
    let tar = run_with_stdin("gzip", &["-dc"], layer);
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        images::digest(&tar),
        "diff_id = sha256 of the uncompressed tar"
    );
    let listing = run_with_stdin("tar", &["-tvf", "-"], &tar);
    let listing = String::from_utf8_lossy(&listing);
    assert!(listing.contains("hello.txt"), "{listing}");
    let content = run_with_stdin("tar", &["-xOf", "-", "hello.txt"], &tar);
    assert_eq!(content, b"hello from demo/public-app\n");
}
