//! A deliberately simple refresher for the suite's self-tests (`tests/suite_can_fail.rs`): it
//! shows that the suite can fail, and fails exactly where a known flaw is.
//!
//! It polls the ConfigMap, fetches tokens with the reference's ACR and metadata clients, writes
//! one Secret per watched namespace and appends it to the `default` ServiceAccount. A flaw is
//! chosen by `--flaw` (test support only, never a product flag):
//! - `never-renews`: keeps the first token forever (TR1 must fail);
//! - `overwrites-foreign`: replaces the ServiceAccount's `imagePullSecrets` (NS7 must fail);
//! - `wrong-region`: asks the node's region for every token (CR1 must fail);
//! - `none`: no flaw.
//!
//! Usage: `naive_refresher --flaw F --kubeconfig {kubeconfig} --metadata {metadata}
//! --acr-port {acr_port} --resolve {acr_resolve} --ca {ca}`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use acr_refresher::acr::token::{RegistryToken, TokenKey};
use acr_refresher::acr::{AcrClient, AcrClientSettings};
use acr_refresher::credentials::ecs_metadata::{EcsMetadataClient, EcsMetadataSettings};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flaw {
    None,
    NeverRenews,
    OverwritesForeign,
    WrongRegion,
}

const SECRET: &str = "naive-acr-credential";

struct Args {
    flaw: Flaw,
    kubeconfig: String,
    metadata: String,
    acr_port: String,
    resolve: Vec<(String, SocketAddr)>,
    ca: String,
}

fn args() -> Result<Args, String> {
    let mut map = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        map.insert(k.trim_start_matches('-').to_string(), v);
    }
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    };
    let flaw = match get("flaw")?.as_str() {
        "none" => Flaw::None,
        "never-renews" => Flaw::NeverRenews,
        "overwrites-foreign" => Flaw::OverwritesForeign,
        "wrong-region" => Flaw::WrongRegion,
        other => return Err(format!("unknown flaw {other}")),
    };
    let mut resolve = Vec::new();
    for entry in get("resolve")?.split(',').filter(|s| !s.is_empty()) {
        let (host, ip) = entry
            .split_once('=')
            .ok_or_else(|| format!("bad --resolve entry {entry}"))?;
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|e| format!("bad address in {entry}: {e}"))?;
        resolve.push((host.to_string(), SocketAddr::new(ip, 0)));
    }
    Ok(Args {
        flaw,
        kubeconfig: get("kubeconfig")?,
        metadata: get("metadata")?,
        acr_port: get("acr-port")?,
        resolve,
        ca: get("ca")?,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    region_id: String,
}

/// The configuration this naive refresher understands.
struct Config {
    namespaces: Option<Vec<String>>,
    threshold: Duration,
    tokens: Vec<(TokenKey, Vec<String>)>,
}

fn config(cm: Option<ConfigMap>, node_region: &str, flaw: Flaw) -> Config {
    let data = cm.and_then(|c| c.data).unwrap_or_default();
    let watch = data
        .get("watch-namespace")
        .map(String::as_str)
        .unwrap_or("default");
    let namespaces = if watch.trim().eq_ignore_ascii_case("all") {
        None
    } else {
        Some(
            watch
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let threshold = data
        .get("expiring-threshold")
        .and_then(|t| acr_refresher::duration::parse(t).ok())
        .unwrap_or(Duration::from_secs(900));
    let items: Vec<Item> = data
        .get("acr-registry-info")
        .and_then(|y| serde_yaml::from_str(y).ok())
        .unwrap_or_else(|| {
            vec![Item {
                instance_id: String::new(),
                region_id: String::new(),
            }]
        });
    let tokens = items
        .into_iter()
        .map(|i| {
            let region = if i.region_id.is_empty() {
                node_region.to_string()
            } else {
                i.region_id
            };
            let asked = if flaw == Flaw::WrongRegion {
                node_region.to_string()
            } else {
                region.clone()
            };
            if i.instance_id.is_empty() {
                let keys = vec![
                    format!("registry.{region}.aliyuncs.com"),
                    format!("registry-vpc.{region}.aliyuncs.com"),
                ];
                (TokenKey::personal(asked), keys)
            } else {
                let keys = vec![
                    format!("*-registry.{region}.cr.aliyuncs.com"),
                    format!("*-registry-vpc.{region}.cr.aliyuncs.com"),
                ];
                (TokenKey::enterprise(asked, i.instance_id), keys)
            }
        })
        .collect();
    Config {
        namespaces,
        threshold,
        tokens,
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("naive_refresher: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("naive_refresher: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&args.kubeconfig).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let metadata = Arc::new(
        EcsMetadataClient::new(EcsMetadataSettings {
            endpoint: args.metadata.clone(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?,
    );
    let node_region = metadata.region().await.map_err(|e| e.to_string())?;
    let acr = AcrClient::new(
        AcrClientSettings {
            endpoint_template: format!("https://cr.{{region}}.aliyuncs.com:{}", args.acr_port),
            extra_ca_file: Some(args.ca.clone().into()),
            resolve: args.resolve.clone(),
            attempts: 1,
            ..Default::default()
        },
        metadata,
    )
    .map_err(|e| e.to_string())?;
    let mut cache: BTreeMap<TokenKey, RegistryToken> = BTreeMap::new();
    loop {
        if let Err(e) = cycle(&client, &acr, &node_region, args.flaw, &mut cache).await {
            eprintln!("naive_refresher: cycle failed: {e}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn cycle(
    client: &kube::Client,
    acr: &AcrClient,
    node_region: &str,
    flaw: Flaw,
    cache: &mut BTreeMap<TokenKey, RegistryToken>,
) -> Result<(), String> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cfg = config(
        cms.get_opt("acr-configuration")
            .await
            .map_err(|e| e.to_string())?,
        node_region,
        flaw,
    );
    let mut auths = serde_json::Map::new();
    for (key, hosts) in &cfg.tokens {
        let due = match cache.get(key) {
            None => true,
            Some(_) if flaw == Flaw::NeverRenews => false,
            Some(t) => {
                (t.expires_at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    < cfg.threshold
            }
        };
        if due {
            match acr.get_authorization_token(key).await {
                Ok(t) => {
                    cache.insert(key.clone(), t);
                }
                Err(e) => eprintln!("naive_refresher: token {key}: {e}"),
            }
        }
        if let Some(t) = cache.get(key) {
            for host in hosts {
                auths.insert(
                    host.clone(),
                    serde_json::json!({"username": t.username, "password": t.password}),
                );
            }
        }
    }
    if auths.is_empty() {
        return Ok(());
    }
    let namespaces = match cfg.namespaces {
        Some(list) => list,
        None => Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect(),
    };
    let body = serde_json::json!({"auths": auths}).to_string();
    for ns in namespaces {
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": ns},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": body},
        });
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        if secrets
            .patch(
                SECRET,
                &PatchParams::apply("naive-refresher").force(),
                &Patch::Apply(&secret),
            )
            .await
            .is_err()
        {
            continue; // namespace gone or not there yet
        }
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let Ok(Some(sa)) = sas.get_opt("default").await else {
            continue;
        };
        let mut refs: Vec<String> = sa
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect();
        if flaw == Flaw::OverwritesForeign {
            refs = vec![SECRET.to_string()];
        } else if !refs.iter().any(|r| r == SECRET) {
            refs.push(SECRET.to_string());
        } else {
            continue;
        }
        let list: Vec<_> = refs
            .iter()
            .map(|n| serde_json::json!({"name": n}))
            .collect();
        let _ = sas
            .patch(
                "default",
                &PatchParams::default(),
                &Patch::Merge(&serde_json::json!({"imagePullSecrets": list})),
            )
            .await;
    }
    Ok(())
}
