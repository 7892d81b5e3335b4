//! `src/keyring.rs` and `src/image_ref.rs` checked against kubelet's own code: generated pull
//! Secrets and images go to `kubeplane keyring-server` (k8s.io/kubernetes
//! `pkg/credentialprovider` and `pkg/util/parsers`, what kubelet runs before a pull) and to
//! `acr_refresher::keyring`; any disagreement — which images parse, the repository looked up, or
//! which credentials are tried in which order — fails the test.
//!
//! Keys and images are drawn from pieces that exercise kubelet's rules: ACR domains, globs in
//! every label, ports, paths and `/v1/`, `/v2/` prefixes, schemes, Docker Hub's names, characters
//! Go's `url.Parse` refuses, upper case, tags and digests. The seed is printed; set
//! `ACR_KEYRING_SEED` to replay a run.

use acr_conformance::kubelet_keyring::{KubeletKeyring, dockerconfigjson_secret};
use acr_refresher::image_ref::ImageRef;
use acr_refresher::keyring::DockerKeyring;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Keyrings generated; each is asked about [`IMAGES_PER_KEYRING`] images.
const KEYRINGS: usize = 2_500;
const IMAGES_PER_KEYRING: usize = 4;

const HOSTS: &[&str] = &[
    "registry.cn-hangzhou.aliyuncs.com",
    "registry-vpc.cn-hangzhou.aliyuncs.com",
    "registry-intl.cn-hangzhou.aliyuncs.com",
    "registry.cn-beijing.aliyuncs.com",
    "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com",
    "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "quay.io",
    "gcr.io",
    "localhost",
    "127.0.0.1",
    "[::1]",
];
const KEY_HOSTS: &[&str] = &[
    "*.cn-hangzhou.aliyuncs.com",
    "*.*.aliyuncs.com",
    "registry.*.aliyuncs.com",
    "registry*.cn-hangzhou.aliyuncs.com",
    "*-registry.*.cr.aliyuncs.com",
    "*.*.cr.aliyuncs.com",
    "*.aliyuncs.com",
    "*",
    "registry.cn-[a-h]*.aliyuncs.com",
    "registry.cn-[!b]*.aliyuncs.com",
    "registry.cn-hangzho?.aliyuncs.com",
    "registry.cn-\\hangzhou.aliyuncs.com",
    "[registry.cn-hangzhou.aliyuncs.com",
    "registry.cn-hangzhou.aliyuncs.com^",
    "Registry.cn-hangzhou.aliyuncs.com",
    "",
];
const PORTS: &[&str] = &["", "", "", ":443", ":5000", ":*", ":"];
const KEY_PATHS: &[&str] = &[
    "",
    "",
    "",
    "/",
    "/demo",
    "/demo/",
    "/demo/private-app",
    "/v1/",
    "/v2/",
    "/v2/demo",
    "/dem",
    "/team",
    "/library",
    "/*",
    "/demo?x",
    "/%41",
];
const SCHEMES: &[&str] = &["", "", "", "https://", "http://", "oci://"];
const REPOS: &[&str] = &[
    "demo/private-app",
    "team/private-app",
    "library/nginx",
    "nginx",
    "demo/private-app/sub",
    "Demo/app",
    "demo/app_1.x-y",
    "a",
];
const REFS: &[&str] = &[
    "",
    ":latest",
    ":v1.2",
    "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ":v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ":",
    "@sha256:short",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn key(rng: &mut StdRng) -> String {
    let host = if rng.random_bool(0.5) {
        pick(rng, HOSTS)
    } else {
        pick(rng, KEY_HOSTS)
    };
    format!(
        "{}{host}{}{}",
        pick(rng, SCHEMES),
        pick(rng, PORTS),
        pick(rng, KEY_PATHS)
    )
}

/// An image and the registry host it names (`docker.io` for Docker Hub's short forms).
fn image(rng: &mut StdRng) -> (String, String) {
    let repo = pick(rng, REPOS);
    let reference = pick(rng, REFS);
    match rng.random_range(0..6) {
        0 => (format!("{repo}{reference}"), "docker.io".into()),
        1 => {
            let host = format!(
                "{}{}",
                pick(rng, HOSTS),
                pick(rng, &["", "", ":443", ":5000"])
            );
            (format!("{host}/{repo}{reference}"), host)
        }
        _ => {
            let host = pick(rng, &HOSTS[..6]).to_string();
            (format!("{host}/{repo}{reference}"), host)
        }
    }
}

/// A key aimed at `host` (so that many pairs match): the host itself or with a label globbed,
/// maybe with a scheme, a path prefix of the repositories, or a `/v2/` prefix.
fn key_for(rng: &mut StdRng, host: &str) -> String {
    let host = match rng.random_range(0..4) {
        0 => match host.split_once('.') {
            Some((_, rest)) => format!("*.{rest}"),
            None => host.to_string(),
        },
        1 => host.replacen("registry", "reg*", 1),
        _ => host.to_string(),
    };
    format!(
        "{}{host}{}",
        pick(rng, SCHEMES),
        pick(
            rng,
            &[
                "",
                "",
                "/demo",
                "/v2/",
                "/v1/demo",
                "/library",
                "/demo/private-app"
            ]
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_agrees_with_kubelets_code() {
    let seed = std::env::var("ACR_KEYRING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("keyring differential: seed {seed} (ACR_KEYRING_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let kubelet = KubeletKeyring::secrets_only()
        .await
        .expect("kubeplane keyring-server starts");
    let started = std::time::Instant::now();
    let mut pairs = 0usize;
    let mut matched = 0usize;
    let mut disagreements = Vec::new();
    for case in 0..KEYRINGS {
        let images: Vec<(String, String)> =
            (0..IMAGES_PER_KEYRING).map(|_| image(&mut rng)).collect();
        let keys: Vec<String> = (0..rng.random_range(1..=4))
            .map(|_| {
                if rng.random_bool(0.5) {
                    let host = images[rng.random_range(0..images.len())].1.clone();
                    key_for(&mut rng, &host)
                } else {
                    key(&mut rng)
                }
            })
            .collect();
        // One Secret per key: kubelet adds a Secret's entries from a Go map (random order for
        // two spellings of one key), Secrets in order.
        let passwords: Vec<String> = (0..keys.len()).map(|i| format!("p{i}")).collect();
        let secrets: Vec<serde_json::Value> = keys
            .iter()
            .zip(&passwords)
            .enumerate()
            .map(|(i, (k, p))| {
                dockerconfigjson_secret(&format!("s{i}"), [(k.as_str(), "u", p.as_str())])
            })
            .collect();
        let ours = DockerKeyring::from_auths(
            keys.iter()
                .zip(&passwords)
                .map(|(k, p)| (k.as_str(), p.clone())),
        );
        for (image, _) in &images {
            let image = image.as_str();
            pairs += 1;
            let theirs = kubelet.lookup(image, &secrets).await;
            let mine = ImageRef::parse(image);
            let verdict = match (&theirs, &mine) {
                (Err(acr_conformance::kubelet_keyring::KeyringError::Refused { .. }), Err(_)) => {
                    None
                }
                (Err(e), Ok(r)) => Some(format!("kubelet refuses ({e}), we read {}", r.name())),
                (Ok(t), Err(e)) => Some(format!("kubelet reads {}, we refuse ({e})", t.repo)),
                (Ok(t), Ok(r)) if t.repo != r.name() => {
                    Some(format!("repository: kubelet {}, we {}", t.repo, r.name()))
                }
                (Ok(t), Ok(r)) => {
                    let kubelet_order: Vec<&str> =
                        t.credentials.iter().map(|c| c.password.as_str()).collect();
                    let our_order: Vec<&str> = ours
                        .lookup_image(r)
                        .into_iter()
                        .map(String::as_str)
                        .collect();
                    if !kubelet_order.is_empty() {
                        matched += 1;
                    }
                    (kubelet_order != our_order)
                        .then(|| format!("order: kubelet {kubelet_order:?}, we {our_order:?}"))
                }
                (Err(e), Err(_)) => Some(format!("kubelet keyring failed: {e}")),
            };
            if let Some(why) = verdict {
                disagreements.push(format!(
                    "case {case}: keys {keys:?}, image {image:?}: {why}"
                ));
            }
        }
    }
    eprintln!(
        "keyring differential: {pairs} key/image pairs ({matched} with a match) in {:.1} s, {} disagreements",
        started.elapsed().as_secs_f64(),
        disagreements.len()
    );
    assert!(pairs >= 10_000);
    assert!(
        disagreements.is_empty(),
        "seed {seed}: {} disagreements with kubelet, the first 20:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must reach kubelet's interesting cases, not only misses.
    assert!(
        matched >= pairs / 10,
        "only {matched} of {pairs} pairs matched a key"
    );
}
